package events

import "time"

// Observer is told what happens to each trigger's events, so the embedder can
// count them (edged turns the calls into Prometheus metrics) without this
// package depending on a metrics library. Methods are called from delivery
// goroutines, concurrently, and must not block.
type Observer interface {
	// Delivered: JetStream delivered an event to the trigger; a redelivery
	// counts again.
	Delivered(trigger string)
	// Processed: one invocation of the trigger's function took d, whatever
	// its verdict.
	Processed(trigger string, d time.Duration)
	// Acked: the event is done (the function answered 2xx now, or before a
	// lost ack) and was acknowledged.
	Acked(trigger string)
	// Retried: a failed invocation is to be retried after the backoff.
	Retried(trigger string)
	// DeadLettered: the event is on the dead-letter subject; reason is one
	// of DeadLetterInvalid, DeadLetterFunction or DeadLetterRetries.
	DeadLettered(trigger, reason string)
}

// Dead-letter reasons given to Observer.DeadLettered: a small fixed set, fit
// for a metric label (the detailed reason is in the dead letter's headers).
const (
	// DeadLetterInvalid: not a valid CloudEvent, or larger than the body cap.
	DeadLetterInvalid = "invalid"
	// DeadLetterFunction: the function asked for it (status 422 or the
	// Edged-Dead-Letter header).
	DeadLetterFunction = "function"
	// DeadLetterRetries: the function kept failing after max_retries.
	DeadLetterRetries = "retries"
)

// nopObserver is the Observer of Options without one.
type nopObserver struct{}

func (nopObserver) Delivered(string)                {}
func (nopObserver) Processed(string, time.Duration) {}
func (nopObserver) Acked(string)                    {}
func (nopObserver) Retried(string)                  {}
func (nopObserver) DeadLettered(string, string)     {}
