//go:build !noevents

package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxListed bounds DeadLetters and RedriveAll: beyond it the caller pages
// by redriving or purging.
const maxListed = 10000

// DeadLetter is one event in a trigger's dead-letter stream.
type DeadLetter struct {
	// Seq is the message's sequence in the dead-letter stream.
	Seq uint64
	// ID, Source and Type are the event's CloudEvents attributes (empty for
	// an event that was not a valid CloudEvent).
	ID, Source, Type string
	// Reason says why it was dead-lettered.
	Reason string
	// Attempts, LastStatus and LastError are the history of its invocations.
	Attempts   int
	LastStatus int
	LastError  string
	// TraceID is the trace the event belongs to, from its traceparent.
	TraceID string
	// Subject is the NATS subject it was delivered on.
	Subject string
	// Time is when it was dead-lettered.
	Time time.Time
	// Header and Data are the message as stored.
	Header nats.Header
	Data   []byte
}

// ErrNotFound is returned by Redrive when no dead letter has the id, and by
// the Server-level helpers for an unknown trigger.
var ErrNotFound = errors.New("events: not found")

// DeadLetters lists the trigger's dead letters, oldest first, at most 10000.
func (sub *Subscription) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	var out []DeadLetter
	var seq uint64 = 1
	for len(out) < maxListed {
		m, err := sub.dlq.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(sub.t.DeadLetter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("events: trigger %s: dead letters: %w", sub.t.Name, err)
		}
		out = append(out, toDeadLetter(m))
		seq = m.Sequence + 1
	}
	return out, nil
}

func toDeadLetter(m *jetstream.RawStreamMsg) DeadLetter {
	h := m.Header
	d := DeadLetter{
		Seq: m.Sequence, ID: h.Get(HeaderID), Source: h.Get(HeaderSource), Type: h.Get(HeaderType),
		Reason: h.Get(HeaderDLReason), LastError: h.Get(HeaderDLError), TraceID: h.Get(HeaderDLTraceID),
		Subject: h.Get(HeaderDLSubject), Header: h, Data: m.Data,
	}
	d.Attempts, _ = strconv.Atoi(h.Get(HeaderDLAttempts))
	d.LastStatus, _ = strconv.Atoi(h.Get(HeaderDLStatus))
	d.Time, _ = time.Parse(time.RFC3339Nano, h.Get(HeaderDLTime))
	return d
}

// Redrive publishes the dead letter with event id back on the subject it was
// delivered on, then removes it from the dead-letter stream. It returns
// ErrNotFound when no dead letter has that id.
func (sub *Subscription) Redrive(ctx context.Context, id string) error {
	dls, err := sub.DeadLetters(ctx)
	if err != nil {
		return err
	}
	for _, d := range dls {
		if d.ID == id {
			return sub.redrive(ctx, d)
		}
	}
	return fmt.Errorf("%w: dead letter %q of trigger %s", ErrNotFound, id, sub.t.Name)
}

// RedriveAll redrives every dead letter (at most 10000 per call) and
// returns how many it redrove.
func (sub *Subscription) RedriveAll(ctx context.Context) (int, error) {
	dls, err := sub.DeadLetters(ctx)
	if err != nil {
		return 0, err
	}
	for i, d := range dls {
		if err := sub.redrive(ctx, d); err != nil {
			return i, err
		}
	}
	return len(dls), nil
}

// redrive republishes first and deletes second: a crash in between leaves
// the dead letter in place (and a later redrive dedupes on the message id).
func (sub *Subscription) redrive(ctx context.Context, d DeadLetter) error {
	subject := d.Subject
	if subject == "" || !SubjectMatches(sub.t.Subject, subject) {
		subject = sub.t.Subject
	}
	m := nats.NewMsg(subject)
	for k, vs := range d.Header {
		if strings.HasPrefix(k, "Edged-") || strings.HasPrefix(k, "Nats-") {
			continue
		}
		m.Header[k] = vs
	}
	// A new message id: the original's is still in the duplicate window
	// and would swallow the redrive.
	m.Header.Set(nats.MsgIdHdr, "redrive "+sub.t.Name+" "+strconv.FormatUint(d.Seq, 10))
	m.Data = d.Data
	if _, err := sub.s.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("events: trigger %s: redrive %d: %w", sub.t.Name, d.Seq, err)
	}
	if err := sub.dlq.DeleteMsg(ctx, d.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("events: trigger %s: remove dead letter %d: %w", sub.t.Name, d.Seq, err)
	}
	return nil
}

// Subscription returns the running subscription of the named trigger.
func (s *Server) Subscription(name string) (*Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		if sub.t.Name == name {
			return sub, nil
		}
	}
	return nil, fmt.Errorf("%w: trigger %q", ErrNotFound, name)
}

// DeadLetters lists the dead letters of the named running trigger.
func (s *Server) DeadLetters(ctx context.Context, trigger string) ([]DeadLetter, error) {
	sub, err := s.Subscription(trigger)
	if err != nil {
		return nil, err
	}
	return sub.DeadLetters(ctx)
}

// Redrive redrives the dead letter with event id of the named running
// trigger.
func (s *Server) Redrive(ctx context.Context, trigger, id string) error {
	sub, err := s.Subscription(trigger)
	if err != nil {
		return err
	}
	return sub.Redrive(ctx, id)
}

// RedriveAll redrives every dead letter of the named running trigger.
func (s *Server) RedriveAll(ctx context.Context, trigger string) (int, error) {
	sub, err := s.Subscription(trigger)
	if err != nil {
		return 0, err
	}
	return sub.RedriveAll(ctx)
}
