package events

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"testing"
	"time"
)

// countingObserver counts the Observer calls: "delivered", "acked",
// "retried", "processed" and "dead <reason>".
type countingObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *countingObserver) add(k string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[k]++
}

func (o *countingObserver) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.n)
}

func (o *countingObserver) Delivered(string)                { o.add("delivered") }
func (o *countingObserver) Processed(string, time.Duration) { o.add("processed") }
func (o *countingObserver) Acked(string)                    { o.add("acked") }
func (o *countingObserver) Retried(string)                  { o.add("retried") }
func (o *countingObserver) DeadLettered(_, r string)        { o.add("dead " + r) }

// TestObserver: each verdict of the function, and an event that is not a
// CloudEvent, is told to the Options' Observer as deliveries, invocations,
// retries, acks and dead letters by reason.
func TestObserver(t *testing.T) {
	tests := []struct {
		name    string
		verdict func(call, int) (int, http.Header, error)
		raw     bool // publish a bare NATS message, not a CloudEvent
		want    map[string]int
	}{
		{"done", nil, false, map[string]int{"delivered": 1, "processed": 1, "acked": 1}},
		{"dead-letter now", func(call, int) (int, http.Header, error) { return StatusDeadLetter, nil, nil }, false,
			map[string]int{"delivered": 1, "processed": 1, "dead " + DeadLetterFunction: 1}},
		{"retried then done", func(_ call, n int) (int, http.Header, error) {
			if n == 1 {
				return 0, nil, errors.New("trap")
			}
			return http.StatusOK, nil, nil
		}, false, map[string]int{"delivered": 2, "processed": 2, "retried": 1, "acked": 1}},
		{"retries exhausted", func(call, int) (int, http.Header, error) { return http.StatusServiceUnavailable, nil, nil }, false,
			map[string]int{"delivered": 2, "processed": 2, "retried": 1, "dead " + DeadLetterRetries: 1}},
		{"invalid", nil, true, map[string]int{"delivered": 1, "dead " + DeadLetterInvalid: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			obs := &countingObserver{}
			s := openTest(t, t.TempDir(), Options{Observer: obs})
			sub, err := s.Subscribe(ctx, Trigger{Name: "jobs", Subject: "jobs", MaxRetries: 1, Backoff: 10 * time.Millisecond},
				newRecorder(tc.verdict))
			if err != nil {
				t.Fatal(err)
			}
			if tc.raw {
				_, err = s.JetStream().Publish(ctx, "jobs", []byte("not a cloudevent"))
			} else {
				_, err = s.Publish(ctx, "jobs", "job", nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "event settled", settled(t, sub))
			// The observer hears of the outcome just after the ack.
			eventually(t, fmt.Sprintf("observer counts %v", tc.want), func() bool { return maps.Equal(obs.counts(), tc.want) })
		})
	}
}
