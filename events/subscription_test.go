package events

import (
	"context"
	"fmt"
	"testing"
)

func TestFetchBytes(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name       string
		n, room    int
		held       int
		maxPayload int64
		want       int
	}{
		{"shares of the held bytes", 100, 256, 64 * mib, mib, 100 * (64 * mib / 256)},
		{"whole room", 256, 256, 64 * mib, mib, 64 * mib},
		{"one event: the largest message still fits", 1, 256, 64 * mib, mib, mib + 64<<10},
		{"a server with a larger max_payload", 4, 256, 64 * mib, 8 * mib, 8*mib + 64<<10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fetchBytes(tc.n, tc.room, tc.held, tc.maxPayload); got != tc.want {
				t.Errorf("fetchBytes(%d, %d, %d, %d) = %d, want %d", tc.n, tc.room, tc.held, tc.maxPayload, got, tc.want)
			}
		})
	}
}

// TestPullsStopAtTheirByteLimit drains events whose data is far more than the
// trigger may hold at once: each pull stops at its byte limit, takes the rest
// later, and every event runs once.
func TestPullsStopAtTheirByteLimit(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), Options{heldBytes: 1 << 20})
	rec := newRecorder(nil)
	const n = 24
	data := make([]byte, 200<<10)
	for i := range n {
		if i == 0 {
			// Create the stream first, with nothing running, so the
			// events are all waiting when the trigger starts.
			sub, err := s.Subscribe(ctx, Trigger{Name: "big", Subject: "big"}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := sub.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PublishEvent(ctx, "big", &Event{ID: fmt.Sprint(i), Source: "src", Type: "t", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := s.Subscribe(ctx, Trigger{Name: "big", Subject: "big"}, rec)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "every event acked", settled(t, sub))
	for i := range n {
		if c := rec.count(fmt.Sprint(i)); c != 1 {
			t.Errorf("event %d ran %d times, want 1", i, c)
		}
	}
	info, err := sub.cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered != 0 {
		t.Errorf("%d redelivered, want none", info.NumRedelivered)
	}
}
