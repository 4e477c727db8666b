package events

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHeldEventsKeepTheirRetries: events a key-ordered trigger fetched but
// never ran (queued behind their key) when it closes are handed back and
// delivered again; the redelivery does not use up a retry. Each ends done
// with one attempt, and two deliveries for those handed back. (Without
// ordering, Close runs the events it holds; the crash test of cmd/edged
// covers those a killed daemon held.)
func TestHeldEventsKeepTheirRetries(t *testing.T) {
	for _, ordering := range []string{OrderingKey} {
		t.Run(ordering, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, t.TempDir(), Options{})
			release, started := make(chan struct{}), make(chan struct{})
			var releaseOnce sync.Once
			unblock := func() { releaseOnce.Do(func() { close(release) }) }
			t.Cleanup(unblock)
			first := newRecorder(func(c call, _ int) (int, http.Header, error) {
				if c.id == "e-0" {
					close(started)
					<-release
				}
				return http.StatusOK, nil, nil
			})
			trig := Trigger{Name: "held", Subject: "held", MaxConcurrency: 1, Ordering: ordering, AckTimeout: time.Minute}
			sub, err := s.Subscribe(ctx, trig, first)
			if err != nil {
				t.Fatal(err)
			}
			const n = 5
			for i := range n {
				if err := s.PublishEvent(ctx, "held", &Event{ID: fmt.Sprintf("e-%d", i), Type: "t", OrderingKey: "k"}); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-started:
			case <-time.After(waitLimit):
				t.Fatal("e-0 never ran")
			}
			eventually(t, "all events held", func() bool {
				sub.held.mu.Lock()
				defer sub.held.mu.Unlock()
				return len(sub.held.msgs) == n
			})
			closed := make(chan error, 1)
			go func() { closed <- sub.Close(ctx) }()
			<-sub.stop
			unblock()
			if err := <-closed; err != nil {
				t.Fatal(err)
			}
			second := newRecorder(nil)
			sub, err = s.Subscribe(ctx, trig, second)
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "all events settled", settled(t, sub))
			for i := range n {
				id := fmt.Sprintf("e-%d", i)
				var rec Record
				eventually(t, id+" has a record", func() bool {
					recs, err := s.Status(ctx, DefaultSource, id)
					if err != nil {
						t.Fatal(err)
					}
					if len(recs) == 1 {
						rec = recs[0]
					}
					return len(recs) == 1
				})
				wantDeliveries := 2
				if i == 0 {
					wantDeliveries = 1 // ran to the end before Close returned
				}
				if rec.State != StateDone || rec.Attempts != 1 || rec.Deliveries != wantDeliveries {
					t.Errorf("%s: record %+v, want done at attempt 1 after %d deliveries", id, rec, wantDeliveries)
				}
			}
		})
	}
}

// TestRunsUsedUpDeadLetters: an event whose runs are all used up without a
// verdict (the record says the daemon died in its last run) is dead-lettered
// on its next delivery without running the function again.
func TestRunsUsedUpDeadLetters(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), Options{})
	rec := newRecorder(func(call, int) (int, http.Header, error) { return http.StatusInternalServerError, nil, nil })
	// One retry, after 0.5 to 1 s: time to rewrite the record meanwhile.
	sub, err := s.Subscribe(ctx, Trigger{Name: "used", Subject: "used", MaxRetries: 1, Backoff: time.Second}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PublishEvent(ctx, "used", &Event{ID: "e1", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	rec.next(t)
	key := sub.recordKey(DefaultSource, "e1")
	eventually(t, "the failed run recorded", func() bool { return sub.runs(ctx, key) == 1 })
	// The retry ran on another node, which died in it.
	if !sub.recordRun(ctx, key, 2) {
		t.Fatal("record run")
	}
	var dl []DeadLetter
	eventually(t, "dead-lettered", func() bool {
		dl, err = s.DeadLetters(ctx, "used")
		return err == nil && len(dl) == 1
	})
	if d := dl[0]; d.Attempts != 2 || !strings.Contains(d.Reason, "after 2 attempts") || !strings.Contains(d.LastError, "no verdict") {
		t.Errorf("dead letter %+v, want 2 attempts without a verdict", d)
	}
	eventually(t, "settled", settled(t, sub))
	if n := rec.count("e1"); n != 1 {
		t.Errorf("function ran %d times, want 1 (the second run was the dead node's)", n)
	}
}

// TestCancelledRunNotCounted: a run that a Close past its deadline cancels
// has not failed: the event is handed back and its next delivery runs with
// the same attempt number. A run recorded before it started (a redelivery's,
// or a local retry's) has its record set back.
func TestCancelledRunNotCounted(t *testing.T) {
	tests := []struct {
		name      string
		ordering  string
		failFirst bool // the first run fails, so the cancelled one is a retry
		// what the record says once the event is done after Close
		wantAttempts, wantDeliveries int
	}{
		{"first run", "", false, 1, 2},
		{"retry on a redelivery", "", true, 2, 3},
		{"first run keyed", OrderingKey, false, 1, 2},
		{"local retry", OrderingKey, true, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, t.TempDir(), Options{})
			var calls atomic.Int32
			blocked := make(chan struct{})
			inv := InvokerFunc(func(ctx context.Context, _ *http.Request) (int, http.Header, error) {
				if calls.Add(1) == 1 && tc.failFirst {
					return http.StatusInternalServerError, nil, nil
				}
				close(blocked)
				<-ctx.Done() // until Close gives up waiting
				return 0, nil, ctx.Err()
			})
			trig := Trigger{Name: "cancel", Subject: "cancel", Ordering: tc.ordering, MaxRetries: 3,
				Backoff: 10 * time.Millisecond, AckTimeout: time.Minute}
			sub, err := s.Subscribe(ctx, trig, inv)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PublishEvent(ctx, "cancel", &Event{ID: "e1", Type: "t", OrderingKey: "k"}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-blocked:
			case <-time.After(waitLimit):
				t.Fatal("the run to cancel never started")
			}
			expired, cancel := context.WithCancel(ctx)
			cancel()
			if err := sub.Close(expired); !errors.Is(err, context.Canceled) {
				t.Fatalf("Close past its deadline = %v, want context.Canceled", err)
			}
			if _, err := s.Subscribe(ctx, trig, newRecorder(nil)); err != nil {
				t.Fatal(err)
			}
			var recs []Record
			eventually(t, "e1 done", func() bool {
				recs, err = s.Status(ctx, DefaultSource, "e1")
				return err == nil && len(recs) == 1
			})
			if r := recs[0]; r.State != StateDone || r.Attempts != tc.wantAttempts || r.Deliveries != tc.wantDeliveries {
				t.Errorf("record %+v, want done at attempt %d after %d deliveries", r, tc.wantAttempts, tc.wantDeliveries)
			}
		})
	}
}
