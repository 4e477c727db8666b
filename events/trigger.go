package events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// Defaults of Trigger, defined once.
const (
	DefaultMaxRetries     = 3
	DefaultBackoff        = time.Second
	DefaultMaxBackoff     = 5 * time.Minute
	DefaultAckTimeout     = 30 * time.Second
	DefaultMaxConcurrency = 4
	DefaultMaxBodyBytes   = 1 << 20
	// maxAckPending bounds the events a trigger holds unacknowledged,
	// including those waiting out a retry delay or their turn for a key.
	maxAckPending = 1000
)

// Orderings of a trigger.
const (
	// OrderingNone processes events in any order, max_concurrency at once;
	// a failed event is handed back to JetStream with a delay.
	OrderingNone = "none"
	// OrderingKey processes events with the same ordering key (the
	// CloudEvents `partitionkey` attribute) one at a time, in stream order:
	// a failed event is retried in place, holding back the events behind it
	// with the same key. Events without a key are not ordered. Events handed
	// back at Close or redelivered after a crash may come in another order.
	OrderingKey = "key"
)

// Dedup modes of a trigger: what keeps an event from running twice.
const (
	// DedupRecord (the default): JetStream's duplicate window on publish, and
	// a completion record stored before each ack, so a redelivery of an
	// event whose work completed but whose ack was lost is skipped, and
	// Server.Status can say the event is done. The record is a second stored
	// message per event.
	DedupRecord = "record"
	// DedupWindow: the duplicate window on publish only. No record is
	// stored for a completed event: a redelivery after a lost ack (a crash
	// before JetStream removed the event, a connection lost with the ack in
	// it, a stream other consumers share) runs the function again, and
	// Server.Status knows only the event's dead letters. For idempotent
	// functions that need the throughput; queue triggers only (a schedule's
	// one firing per tick rests on the record).
	DedupWindow = "window"
)

// ValidDedup reports whether mode is a dedup mode a trigger can have, a
// schedule when schedule is set.
func ValidDedup(mode string, schedule bool) error {
	switch mode {
	case DedupRecord:
	case DedupWindow:
		if schedule {
			return fmt.Errorf("%q is for queue triggers: a schedule fires once per tick by its completion records", DedupWindow)
		}
	default:
		return fmt.Errorf("%q is not %q or %q", mode, DedupRecord, DedupWindow)
	}
	return nil
}

// Verdicts an Invoker can give beyond 2xx (done) and anything else (retry).
const (
	// StatusDeadLetter (422) dead-letters the event at once, without
	// burning the remaining retries: the function says it can never succeed.
	StatusDeadLetter = http.StatusUnprocessableEntity
	// HeaderDeadLetter in a response dead-letters the event whatever the
	// status; its value is recorded as the reason.
	HeaderDeadLetter = "Edged-Dead-Letter"
)

// Invoker runs the function a trigger delivers to. The request is a
// CloudEvents binary-mode POST: `ce-*` headers, Content-Type, traceparent,
// body = data. A 2xx status acknowledges the event; StatusDeadLetter or
// HeaderDeadLetter dead-letters it now; any other status or an error (trap,
// timeout, limit) is retried with backoff. Invoke is called from several
// goroutines at once (up to the trigger's MaxConcurrency) and must honour
// ctx, which ends when the trigger is closed.
type Invoker interface {
	Invoke(ctx context.Context, req *http.Request) (status int, header http.Header, err error)
}

// InvokerFunc adapts a function to Invoker.
type InvokerFunc func(ctx context.Context, req *http.Request) (int, http.Header, error)

// Invoke calls f.
func (f InvokerFunc) Invoke(ctx context.Context, req *http.Request) (int, http.Header, error) {
	return f(ctx, req)
}

// Trigger is one `[[triggers]]` entry: a queue (Subject) or a schedule
// (Schedule) delivered to a function. The zero value of every field but
// Name and one of Subject or Schedule is the documented default.
type Trigger struct {
	// Name identifies the trigger: its durable consumer, its records; letters,
	// digits, '-' and '_', at most 64 bytes.
	Name string
	// Subject is the NATS subject (wildcards allowed) of a queue trigger. A
	// stream capturing it is adopted, or one named EDGED_<Name> is created
	// (interest retention: an event is kept until every trigger on it is
	// done with it).
	Subject string
	// Schedule is a cron expression or `@every D` (see ParseSchedule). Ticks
	// are published on edged.schedule.<Name> and delivered like queue events.
	Schedule string
	// MaxRetries is how many times a failed event is retried before it is
	// dead-lettered; 0 means 3, negative means none.
	MaxRetries int
	// Backoff is the delay before the first retry, doubling for each next
	// one up to MaxBackoff; each delay is drawn at random from its upper half
	// (jitter). Defaults 1s and 5m.
	Backoff, MaxBackoff time.Duration
	// AckTimeout is how long JetStream waits for a verdict before it hands
	// the event to another consumer (the daemon died). Set it to the
	// function's timeout plus a margin; while a function runs, edged reports
	// progress every third of it, so long work is not redelivered. Default 30s.
	AckTimeout time.Duration
	// MaxConcurrency bounds invocations of this trigger at once; default 4.
	MaxConcurrency int
	// Ordering is OrderingNone (default) or OrderingKey.
	Ordering string
	// Dedup is DedupRecord (default) or DedupWindow.
	Dedup string
	// DeadLetter is the subject failed events go to; default
	// "<Subject>.dead" (Subject must then have no wildcard), and
	// "edged.schedule.<Name>.dead" for schedules. A stream capturing it is
	// adopted, or EDGED_DLQ_<Name> is created.
	DeadLetter string
	// MaxBodyBytes bounds an event's data (the function's body cap); a
	// bigger event is dead-lettered. Default 1 MiB.
	MaxBodyBytes int64
}

// scheduleSubject is where a schedule's ticks are published.
func scheduleSubject(name string) string { return "edged.schedule." + name }

func (t Trigger) withDefaults() Trigger {
	if t.Schedule != "" && t.Subject == "" {
		t.Subject = scheduleSubject(t.Name)
	}
	switch {
	case t.MaxRetries == 0:
		t.MaxRetries = DefaultMaxRetries
	case t.MaxRetries < 0:
		t.MaxRetries = 0
	}
	if t.Backoff == 0 {
		t.Backoff = DefaultBackoff
	}
	if t.MaxBackoff == 0 {
		t.MaxBackoff = max(DefaultMaxBackoff, t.Backoff)
	}
	if t.AckTimeout == 0 {
		t.AckTimeout = DefaultAckTimeout
	}
	if t.MaxConcurrency == 0 {
		t.MaxConcurrency = DefaultMaxConcurrency
	}
	if t.Ordering == "" {
		t.Ordering = OrderingNone
	}
	if t.Dedup == "" {
		t.Dedup = DedupRecord
	}
	if t.DeadLetter == "" && ValidSubject(t.Subject) == nil {
		t.DeadLetter = t.Subject + ".dead"
	}
	if t.MaxBodyBytes == 0 {
		t.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return t
}

// Validate reports every invalid field at once, naming it.
func (t Trigger) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("triggers[%s].%s: %s", t.Name, field, fmt.Sprintf(format, args...)))
	}
	if !validName(t.Name) {
		bad("name", "must be 1-64 letters, digits, '-' or '_'")
	}
	switch {
	case t.Subject != "" && t.Schedule != "":
		bad("subject", "set exactly one of subject and schedule")
	case t.Subject == "" && t.Schedule == "":
		bad("subject", "set one of subject and schedule")
	case t.Subject != "":
		if err := ValidPattern(t.Subject); err != nil {
			bad("subject", "%v", err)
		}
	default:
		if _, err := ParseSchedule(t.Schedule); err != nil {
			bad("schedule", "%v", err)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"backoff", t.Backoff}, {"max_backoff", t.MaxBackoff}, {"ack_timeout", t.AckTimeout}} {
		if d.v < 0 {
			bad(d.name, "must be >= 0")
		}
	}
	if t.AckTimeout != 0 && t.AckTimeout < 3*time.Millisecond {
		bad("ack_timeout", "must be at least 3ms")
	}
	if t.Backoff > 0 && t.MaxBackoff > 0 && t.MaxBackoff < t.Backoff {
		bad("max_backoff", "must be >= backoff")
	}
	if t.MaxConcurrency < 0 || t.MaxConcurrency > maxAckPending {
		bad("max_concurrency", "must be between 1 and %d", maxAckPending)
	}
	switch t.Ordering {
	case "", OrderingNone, OrderingKey:
	default:
		bad("ordering", "%q is not %q or %q", t.Ordering, OrderingNone, OrderingKey)
	}
	if t.Dedup != "" {
		if err := ValidDedup(t.Dedup, t.Schedule != ""); err != nil {
			bad("dedup", "%v", err)
		}
	}
	if t.MaxBodyBytes < 0 {
		bad("max_body_bytes", "must be >= 0")
	}
	d := t.withDefaults()
	switch {
	case t.DeadLetter != "" && ValidSubject(t.DeadLetter) != nil:
		bad("dead_letter", "%v", ValidSubject(t.DeadLetter))
	case d.DeadLetter == "" && t.Subject != "":
		bad("dead_letter", "required when subject has wildcards")
	case d.DeadLetter != "" && ValidPattern(d.Subject) == nil && SubjectMatches(d.Subject, d.DeadLetter):
		bad("dead_letter", "%q is matched by subject %q: dead letters would be delivered again", d.DeadLetter, d.Subject)
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// delay is the wait before retry number n (1 = first retry): Backoff
// doubled n-1 times, capped at MaxBackoff, drawn from its upper half.
func (t Trigger) delay(n int) time.Duration {
	d := t.Backoff
	for i := 1; i < n && d < t.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, t.MaxBackoff)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}
