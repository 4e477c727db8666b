//go:build !noevents

package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoStream is returned by Publish when no stream captures the subject:
// no trigger listens on it, so the event would be lost.
var ErrNoStream = errors.New("events: no stream for subject")

// Publish publishes data as a CloudEvent of type ceType on subject, with a
// fresh id and Options.Source as source, and returns the id once JetStream
// has stored it.
func (s *Server) Publish(ctx context.Context, subject, ceType string, data []byte) (string, error) {
	ev := Event{Type: ceType, Data: data}
	if err := s.PublishEvent(ctx, subject, &ev); err != nil {
		return "", err
	}
	return ev.ID, nil
}

// PublishEvent publishes ev on subject, filling in ID (random), Source
// (Options.Source) and Time (now) when empty. The NATS message id is
// source + " " + id, so publishing the same event twice within the stream's
// duplicate window (2 minutes by default) stores it once; the second call
// succeeds too. Without a TraceParent, ev carries the one of ctx
// (WithTraceParent), so the consumer's span joins the publisher's trace. It
// returns ErrNoStream when no stream captures subject.
func (s *Server) PublishEvent(ctx context.Context, subject string, ev *Event) error {
	if err := ValidSubject(subject); err != nil {
		return fmt.Errorf("events: publish: %w", err)
	}
	if ev.Type == "" {
		return errors.New("events: publish: empty event type")
	}
	if ev.ID == "" {
		ev.ID = newEventID()
	}
	if ev.Source == "" {
		ev.Source = s.opts.Source
	}
	if ev.Time.IsZero() {
		ev.Time = s.opts.Now()
	}
	if ev.TraceParent == "" {
		ev.TraceParent, ev.TraceState = TraceParentFrom(ctx)
	}
	m := nats.NewMsg(subject)
	m.Header = ev.header()
	m.Data = ev.Data
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("%w %s", ErrNoStream, subject)
		}
		return fmt.Errorf("events: publish %s: %w", subject, err)
	}
	return nil
}
