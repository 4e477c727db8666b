//go:build !noevents

package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/trace"
)

// attemptResult is what one invocation said.
type attemptResult struct {
	status int
	err    error
	reason string // set when the function asked for dead-lettering
}

// delivery is one delivery of an event, as handle's steps share it.
type delivery struct {
	sub       *Subscription
	msg       jetstream.Msg
	md        *jetstream.MsgMetadata
	ev        received
	key       string // of the event's records (recordKey)
	delivered int    // JetStream's count, this delivery included
	attempt   int    // the run about to start, or just ended
	recorded  bool   // the run was recorded before it started (recordRun)
}

// handle processes one delivery of msg. With local set (ordering by key) a
// failure is retried here after the backoff delay, so no later event of the
// key overtakes it; otherwise the event goes back to JetStream with
// NakWithDelay. sem, when not nil, is taken around each invocation.
func (sub *Subscription) handle(ctx context.Context, msg jetstream.Msg, local bool, sem chan struct{}) {
	handedOff := false // to the outbox, which then owns msg
	defer func() {
		if !handedOff {
			sub.held.remove(msg)
		}
	}()
	d, ok := sub.receive(ctx, msg)
	if !ok {
		return
	}
	for {
		if sem != nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				sub.handBack(msg)
				return
			}
		}
		if d.attempt > sub.t.MaxRetries+1 {
			// Every run was used up by runs that ended without a verdict
			// (the daemon died in them), or a dead-letter publish failed
			// after the last one: do not run it once more.
			if sem != nil {
				<-sem
			}
			d.deadLetter(ctx, history{attempts: d.attempt - 1, err: errNoVerdict,
				reason: fmt.Sprintf("failed after %d attempts", d.attempt-1), kind: DeadLetterRetries})
			return
		}
		res := d.run(ctx)
		if sem != nil {
			<-sem
		}
		if ctx.Err() != nil {
			// Cancelled by Close, not failed: no attempt is counted against it.
			if d.recorded {
				sub.recordRun(context.WithoutCancel(ctx), d.key, d.attempt-1)
			}
			sub.handBack(msg)
			return
		}
		if res.reason == "" && res.err == nil && res.status >= 200 && res.status < 300 {
			var rec *Record // none with dedup = "window": a lost ack runs it again
			if sub.t.Dedup != DedupWindow {
				rec = &Record{
					State: StateDone, Trigger: sub.t.Name, Attempts: d.attempt, Deliveries: d.delivered, Status: res.status,
					Time: sub.s.opts.Now().UTC(),
				}
			}
			handedOff = sub.complete(ctx, msg, d.key, rec)
			return
		}
		if d.deadLettered(ctx, res) || !d.retry(ctx, local) {
			return
		}
	}
}

// receive reads msg's metadata and event, and returns the delivery to run.
// It reports false when there is nothing to run: msg is not JetStream's, its
// event is invalid (dead-lettered), or a run of it already completed (acked).
func (sub *Subscription) receive(ctx context.Context, msg jetstream.Msg) (delivery, bool) {
	md, err := msg.Metadata()
	if err != nil {
		sub.log.Warn("events: not a JetStream message", "error", err)
		return delivery{}, false
	}
	d := delivery{sub: sub, msg: msg, md: md, delivered: int(md.NumDelivered), attempt: 1}
	obs := sub.s.opts.Observer
	obs.Delivered(sub.t.Name)
	d.ev, err = parseEvent(msg.Headers(), msg.Data(), sub.t.MaxBodyBytes)
	if err != nil {
		d.deadLetter(ctx, history{attempts: 0, reason: err.Error(), kind: DeadLetterInvalid})
		return delivery{}, false
	}
	d.key = sub.recordKey(d.ev.source, d.ev.id)
	// A first delivery cannot have completed before: the duplicate window
	// already dropped a repeated publish. Only redeliveries, and ticks (a
	// tick re-fired after a crash may be outside the window), are checked.
	if d.delivered > 1 || sub.t.Schedule != "" {
		if rec, ok := sub.s.record(ctx, d.key); ok && rec.State == StateDone {
			// The work completed but the ack was lost: do not do it again.
			sub.ack(msg)
			obs.Acked(sub.t.Name)
			return delivery{}, false
		}
	}
	// Attempts count runs, not deliveries: an event the trigger held but
	// never ran when the daemon died is delivered again without having used
	// a retry. A first delivery has no run behind it; a redelivery reads
	// the runs recorded so far (see recordRun).
	if d.delivered > 1 {
		d.attempt = sub.runs(ctx, d.key) + 1
	}
	return d, true
}

// run runs the function once, for attempt d.attempt.
func (d *delivery) run(ctx context.Context) attemptResult {
	// A run on a redelivery, or a local retry, is recorded before it
	// starts, so a run the daemon dies in counts too (an event that kills
	// the daemon is dead-lettered in the end). The first run of a first
	// delivery is not: no write on the common path.
	if d.delivered > 1 || d.attempt > 1 {
		d.recorded = d.sub.recordRun(ctx, d.key, d.attempt)
	}
	start := time.Now()
	res := d.sub.invoke(ctx, d.msg, d.attempt)
	d.sub.s.opts.Observer.Processed(d.sub.t.Name, time.Since(start))
	return res
}

// deadLettered dead-letters the event after a run that did not complete it,
// when the function asked for it or the retries are used up, and reports
// whether it did.
func (d *delivery) deadLettered(ctx context.Context, res attemptResult) bool {
	switch {
	case res.reason != "":
		d.deadLetter(ctx, history{attempts: d.attempt, status: res.status, err: res.err, reason: res.reason, kind: DeadLetterFunction})
	case d.attempt > d.sub.t.MaxRetries:
		d.deadLetter(ctx, history{attempts: d.attempt, status: res.status, err: res.err,
			reason: fmt.Sprintf("failed after %d attempts", d.attempt), kind: DeadLetterRetries})
	default:
		return false
	}
	return true
}

// retry schedules the next run after a failed one: here after the backoff
// delay when local, else by JetStream (NakWithDelay). It reports whether the
// next run is to start here, with d.attempt advanced.
func (d *delivery) retry(ctx context.Context, local bool) bool {
	sub := d.sub
	// A failed run is recorded before the retry waits, wherever it waits,
	// so a crash meanwhile does not forget it.
	if !d.recorded {
		sub.recordRun(ctx, d.key, d.attempt)
	}
	sub.s.opts.Observer.Retried(sub.t.Name)
	if !local {
		_ = d.msg.NakWithDelay(sub.t.delay(d.attempt))
		return false
	}
	select {
	case <-time.After(sub.t.delay(d.attempt)):
		d.attempt++
		return true
	case <-sub.stop:
		sub.handBack(d.msg) // the key's order resumes wherever it is redelivered
		return false
	case <-ctx.Done():
		sub.handBack(d.msg)
		return false
	}
}

// deadLetter dead-letters the delivery's event (see Subscription.deadLetter).
func (d *delivery) deadLetter(ctx context.Context, h history) {
	d.sub.deadLetter(ctx, d.msg, d.md, d.ev, h)
}

func (sub *Subscription) invoke(ctx context.Context, msg jetstream.Msg, attempt int) attemptResult {
	req, err := request(ctx, msg.Headers(), msg.Data())
	if err != nil {
		return attemptResult{err: err}
	}
	sp := sub.startSpan(req, attempt)
	// What the function publishes continues the trace of this delivery.
	if tp := firstValue(req.Header, canonicalTraceParent); tp != "" {
		if tctx := WithTraceParent(ctx, tp, firstValue(req.Header, canonicalTraceState)); tctx != ctx {
			ctx = tctx
			req = req.WithContext(ctx)
		}
	}
	status, header, err := sub.inv.Invoke(ctx, req)
	sp.end(status, err)
	res := attemptResult{status: status, err: err}
	if err != nil {
		return res
	}
	if v := header.Get(HeaderDeadLetter); v != "" {
		res.reason = "function: " + clip(v)
	} else if status == StatusDeadLetter {
		res.reason = "function answered " + strconv.Itoa(status)
	}
	return res
}

// firstValue is h.Get(k) for a k already canonical, which Get would
// canonicalize again (an allocation for every lower-case name).
func firstValue(h http.Header, k string) string {
	if vs := h[k]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// eventSpan is the span of one invocation, under the publisher's span.
type eventSpan struct {
	exp  trace.Exporter
	span trace.Span
}

// startSpan starts the invocation's span when there is an exporter and the
// event carries a sampled traceparent, and points the request's traceparent
// at it so the function's own spans nest under it. It returns nil otherwise.
func (sub *Subscription) startSpan(req *http.Request, attempt int) *eventSpan {
	exp := sub.s.opts.Exporter
	if exp == nil {
		return nil
	}
	tc, ok := trace.ParseTraceparent([]byte(firstValue(req.Header, canonicalTraceParent)))
	if !ok || !tc.Sampled() {
		return nil
	}
	if ts := req.Header.Get("tracestate"); ts != "" && trace.ValidTracestate([]byte(ts)) {
		tc.State = ts
	}
	id := trace.NewSpanID()
	req.Header.Set(HeaderTraceParent, string(tc.AppendTraceparent(nil, id)))
	return &eventSpan{exp: exp, span: trace.Span{
		TraceID: tc.TraceID, SpanID: id, ParentID: tc.ParentID, RemoteParent: true, TraceState: tc.State,
		Name: "edged.event", Kind: trace.KindConsumer, Start: time.Now(),
		Attrs: []trace.Attr{
			trace.Str("edged.trigger", sub.t.Name), trace.Str("cloudevents.event_id", req.Header.Get(HeaderID)),
			trace.Int("edged.attempt", int64(attempt)),
		},
	}}
}

// end finishes and exports the span; a nil span does nothing.
func (sp *eventSpan) end(status int, err error) {
	if sp == nil {
		return
	}
	sp.span.End = time.Now()
	if status != 0 {
		sp.span.Attrs = append(sp.span.Attrs, trace.Int("http.response.status_code", int64(status)))
	}
	switch {
	case err != nil:
		sp.span.Err = clip(err.Error())
	case status >= 500 || status == StatusDeadLetter:
		sp.span.Err = "status " + strconv.Itoa(status)
	}
	sp.exp.ExportSpans([]trace.Span{sp.span})
}

// complete hands a completed event to the outbox, which stores its
// completion record (with dedup = "record") and then acknowledges it: if the
// ack is lost, the redelivery finds the record and is skipped. The
// invocation slot is free meanwhile. It reports whether msg was handed over;
// if not (the trigger is closing), the event is left unacked and redelivered,
// to be skipped if its record made it.
func (sub *Subscription) complete(ctx context.Context, msg jetstream.Msg, key string, rec *Record) bool {
	d := doneEvent{msg: msg, key: key}
	if rec != nil {
		b, err := json.Marshal(rec)
		if err != nil {
			sub.log.Warn("events: record completion", "key", key, "error", err)
		}
		d.record = b
	}
	select {
	case sub.done <- d:
		return true
	case <-ctx.Done():
		return false
	}
}

// finish acknowledges a completed event.
func (sub *Subscription) finish(msg jetstream.Msg) {
	if sub.s.opts.dropAck == nil || !sub.s.opts.dropAck() {
		sub.ack(msg)
		sub.s.opts.Observer.Acked(sub.t.Name)
	}
}

func (sub *Subscription) ack(msg jetstream.Msg) {
	// Fire and forget: a lost ack means a redelivery, which the completion
	// record turns into a no-op.
	if err := msg.Ack(); err != nil {
		sub.log.Warn("events: ack", "error", err)
	}
}

func (sub *Subscription) recordKey(source, id string) string {
	return sub.t.Name + "." + kvKey(source, id)
}

// history is what the dead-letter message says about the event's attempts.
type history struct {
	attempts int
	status   int
	err      error
	reason   string
	kind     string // DeadLetterInvalid, DeadLetterFunction or DeadLetterRetries
}

// Headers of a dead-letter message, besides the event's own `ce-*` headers.
const (
	HeaderDLReason   = "Edged-Dead-Letter-Reason"
	HeaderDLAttempts = "Edged-Attempts"
	HeaderDLStatus   = "Edged-Last-Status"
	HeaderDLError    = "Edged-Last-Error"
	HeaderDLTraceID  = "Edged-Trace-Id"
	HeaderDLTrigger  = "Edged-Trigger"
	HeaderDLSubject  = "Edged-Original-Subject"
	HeaderDLSequence = "Edged-Original-Sequence"
	HeaderDLTime     = "Edged-Dead-Letter-Time"
)

// deadLetter publishes msg with its history to the dead-letter subject and
// acknowledges the original only once JetStream has acknowledged the copy;
// if the publish fails the original is retried later, never dropped.
func (sub *Subscription) deadLetter(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, ev received, h history) {
	out := nats.NewMsg(sub.t.DeadLetter)
	for k, vs := range msg.Headers() {
		if strings.HasPrefix(k, "Nats-") {
			continue // JetStream's own headers belong to the original message
		}
		out.Header[k] = vs
	}
	out.Header.Set(HeaderDLReason, clip(h.reason))
	out.Header.Set(HeaderDLAttempts, strconv.Itoa(h.attempts))
	if h.status != 0 {
		out.Header.Set(HeaderDLStatus, strconv.Itoa(h.status))
	}
	if h.err != nil {
		out.Header.Set(HeaderDLError, clip(h.err.Error()))
	}
	if id := traceID(ev.traceParent); id != "" {
		out.Header.Set(HeaderDLTraceID, id)
	}
	out.Header.Set(HeaderDLTrigger, sub.t.Name)
	out.Header.Set(HeaderDLSubject, msg.Subject())
	out.Header.Set(HeaderDLSequence, strconv.FormatUint(md.Sequence.Stream, 10))
	now := sub.s.opts.Now().UTC()
	out.Header.Set(HeaderDLTime, now.Format(time.RFC3339Nano))
	// The same original dead-lettered twice (its ack was lost) dedupes.
	out.Header.Set(nats.MsgIdHdr, "dlq "+sub.t.Name+" "+strconv.FormatUint(md.Sequence.Stream, 10))
	out.Data = msg.Data()
	if _, err := sub.s.js.PublishMsg(ctx, out); err != nil {
		sub.log.Error("events: dead-letter publish failed; event kept for retry", "id", ev.id, "error", err)
		_ = msg.NakWithDelay(sub.t.delay(max(h.attempts, 1)))
		return
	}
	if ev.id != "" && ev.source != "" {
		rec := Record{State: StateDead, Trigger: sub.t.Name, Attempts: h.attempts, Deliveries: int(md.NumDelivered),
			Status: h.status, Reason: clip(h.reason), Time: now}
		if h.err != nil {
			rec.Error = clip(h.err.Error())
		}
		if err := sub.s.putRecord(ctx, sub.recordKey(ev.source, ev.id), rec); err != nil {
			sub.log.Warn("events: record dead letter", "id", ev.id, "error", err)
		}
	}
	sub.ack(msg)
	sub.s.opts.Observer.DeadLettered(sub.t.Name, h.kind)
}

// States of an event for one trigger.
const (
	// StateDone: the function returned 2xx.
	StateDone = "done"
	// StateDead: the event went to the dead-letter subject.
	StateDead = "dead-lettered"
)

// Record is what edged keeps about a finished event for one trigger, for
// Options.CompletionTTL.
type Record struct {
	State   string `json:"state"`
	Trigger string `json:"trigger"`
	// Attempts counts the runs of the function, the last included.
	Attempts int `json:"attempts"`
	// Deliveries counts JetStream's deliveries of the event to the trigger:
	// more than Attempts when the daemon died holding it before a run.
	Deliveries int       `json:"deliveries,omitempty"`
	Status     int       `json:"status,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Error      string    `json:"error,omitempty"`
	Time       time.Time `json:"time"`
}

// doneSubjectPrefix is where the records bucket stores keys: a KV put is a
// publish on $KV.<bucket>.<key>.
const doneSubjectPrefix = "$KV." + doneBucket + "."

func (s *Server) putRecord(ctx context.Context, key string, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.done.Put(ctx, key, b)
	return err
}

// record returns the record under key; a missing or unreadable one is
// reported as absent (the event is then processed, at least once).
func (s *Server) record(ctx context.Context, key string) (Record, bool) {
	e, err := s.done.Get(ctx, key)
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			s.opts.Logger.Warn("events: read record", "key", key, "error", err)
		}
		return Record{}, false
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return Record{}, false
	}
	return r, true
}

// Status returns the records of the event source+id, one per trigger that
// finished it (done or dead-lettered). An empty result means no trigger has
// finished it yet: it is pending, or was never published.
func (s *Server) Status(ctx context.Context, source, id string) ([]Record, error) {
	lister, err := s.done.ListKeysFiltered(ctx, "*."+kvKey(source, id))
	if err != nil {
		return nil, fmt.Errorf("events: status: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	var out []Record
	for _, k := range keys {
		if r, ok := s.record(ctx, k); ok {
			out = append(out, r)
		}
	}
	return out, nil
}
