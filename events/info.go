//go:build !noevents

package events

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Info is a running trigger's state in JetStream, as `edged events` shows it.
type Info struct {
	// Trigger, Subject, Schedule and DeadLetter are the trigger's name, its
	// subject (or schedule) and its dead-letter subject.
	Trigger, Subject, Schedule, DeadLetter string
	// Dedup is the trigger's dedup mode, DedupRecord or DedupWindow.
	Dedup string
	// Stream and Consumer are where its events wait: the stream adopted or
	// created for the subject, and the durable consumer named after it.
	Stream, Consumer string
	// Pending counts events not yet delivered to the trigger (its lag).
	Pending uint64
	// InFlight counts events delivered and not yet acknowledged: running, or
	// waiting for a retry.
	InFlight int
	// Redelivered counts the in-flight events delivered more than once.
	Redelivered int
	// Delivered counts deliveries so far, retries included.
	Delivered uint64
	// DeadLetters counts the events on the dead-letter subject.
	DeadLetters uint64
}

// Info reads the trigger's consumer and dead-letter counts from JetStream.
func (sub *Subscription) Info(ctx context.Context) (Info, error) {
	ci, err := sub.cons.Info(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("events: trigger %s: consumer info: %w", sub.t.Name, err)
	}
	out := Info{
		Trigger: sub.t.Name, Subject: sub.t.Subject, Schedule: sub.t.Schedule, DeadLetter: sub.t.DeadLetter,
		Dedup:  sub.t.Dedup,
		Stream: ci.Stream, Consumer: ci.Name,
		Pending: ci.NumPending, InFlight: ci.NumAckPending, Redelivered: ci.NumRedelivered,
		Delivered: ci.Delivered.Consumer,
	}
	si, err := sub.dlq.Info(ctx, jetstream.WithSubjectFilter(sub.t.DeadLetter))
	if err != nil {
		return Info{}, fmt.Errorf("events: trigger %s: dead-letter stream info: %w", sub.t.Name, err)
	}
	out.DeadLetters = si.State.Subjects[sub.t.DeadLetter]
	return out, nil
}

// Triggers returns the Info of every running trigger, by name.
func (s *Server) Triggers(ctx context.Context) ([]Info, error) {
	s.mu.Lock()
	subs := make([]*Subscription, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	slices.SortFunc(subs, func(a, b *Subscription) int { return strings.Compare(a.t.Name, b.t.Name) })
	out := make([]Info, 0, len(subs))
	for _, sub := range subs {
		in, err := sub.Info(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, in)
	}
	return out, nil
}
