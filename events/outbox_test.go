package events

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestOutbox: every completed event of a burst larger than a batch is
// acknowledged exactly once, with a completion record per event when the
// trigger keeps records and none with dedup = "window"; and Close sends the
// acks of events that completed just before it, so none is redelivered.
// The records go as fast batches, or, when JetStream refuses those (the
// bucket's setting turned off under the running server), one by one.
func TestOutbox(t *testing.T) {
	const n = 3*outboxBatch + 7
	tests := []struct {
		name        string
		dedup       string
		batchesOff  bool
		wantRecords bool
	}{
		{"dedup=record", DedupRecord, false, true},
		{"dedup=record/batches refused", DedupRecord, true, true},
		{"dedup=window", DedupWindow, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, t.TempDir(), Options{})
			if !s.batchRecords {
				t.Fatal("the embedded server does not take fast batches of records")
			}
			if tc.batchesOff {
				st, err := s.js.Stream(ctx, "KV_"+doneBucket)
				if err != nil {
					t.Fatal(err)
				}
				cfg := st.CachedInfo().Config
				cfg.AllowBatchPublish = false
				if _, err := s.js.UpdateStream(ctx, cfg); err != nil {
					t.Fatal(err)
				}
			}
			started, release := make(chan struct{}), make(chan struct{})
			rec := newRecorder(func(c call, _ int) (int, http.Header, error) {
				if c.id == "last" {
					close(started)
					<-release
				}
				return http.StatusOK, nil, nil
			})
			trig := Trigger{Name: "burst", Subject: "burst", MaxConcurrency: 8, Dedup: tc.dedup, AckTimeout: time.Minute}
			sub, err := s.Subscribe(ctx, trig, rec)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if err := s.PublishEvent(ctx, "burst", &Event{ID: fmt.Sprint(i), Source: "src", Type: "t"}); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, "every event acked", settled(t, sub))
			info, err := sub.cons.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.Delivered.Consumer != n || info.NumRedelivered != 0 {
				t.Errorf("delivered %d, redelivered %d; want %d and 0", info.Delivered.Consumer, info.NumRedelivered, n)
			}
			for i := range n {
				id := fmt.Sprint(i)
				if c := rec.count(id); c != 1 {
					t.Fatalf("event %s ran %d times, want 1", id, c)
				}
				recs, err := s.Status(ctx, "src", id)
				if err != nil {
					t.Fatal(err)
				}
				if got := len(recs) == 1 && recs[0].State == StateDone; got != tc.wantRecords {
					t.Fatalf("event %s: records %+v, want a done record: %v", id, recs, tc.wantRecords)
				}
			}

			// An event that completes while Close waits for it is acked
			// before Close returns.
			if err := s.PublishEvent(ctx, "burst", &Event{ID: "last", Source: "src", Type: "t"}); err != nil {
				t.Fatal(err)
			}
			<-started
			closed := make(chan error, 1)
			go func() {
				closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				closed <- sub.Close(closeCtx)
			}()
			<-sub.stop // Close has begun
			close(release)
			if err := <-closed; err != nil {
				t.Fatal(err)
			}
			// Acks are sent without waiting for the server's answer: it may
			// take them a moment after Close. Unsent, the event would stay
			// unacknowledged for its ack timeout.
			eventually(t, "the last event acked", settled(t, sub))
		})
	}
}
