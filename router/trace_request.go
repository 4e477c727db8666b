package router

import (
	"context"
	"math/rand/v2"
	"net/http"
	"reflect"
	"time"

	"github.com/edged/edged/internal/fieldname"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/trace"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// Tracing configures W3C Trace Context propagation and span recording for a
// World. With a Tracing, every request carries a trace: the client's, when it
// sent a valid traceparent (and IgnoreIncoming is off), else one edged starts.
// The legacy upstream, the guest (as the traceparent request header) and the
// guest's fetch subrequests each get a traceparent whose parent-id is the
// edged span that sent them; tracestate is passed on unchanged. A nil
// *Tracing in World turns all of it off.
type Tracing struct {
	// Exporter receives the spans of sampled requests; nil records none,
	// and trace context is still propagated.
	Exporter trace.Exporter
	// SampleRatio is the fraction, 0 to 1, of the traces edged starts that
	// are sampled. A continued trace keeps the client's sampled flag. The
	// zero value samples none of the traces edged starts.
	SampleRatio float64
	// IgnoreIncoming starts a new trace for every request instead of
	// continuing a client's traceparent (for an edge that does not trust its
	// clients' trace ids).
	IgnoreIncoming bool
}

// reqTrace is the trace state of one request (in an exchange) or of one
// background shadow mirror. Its hooks are bound once, when the exchange or
// mirror is created, so a traced request allocates only what it records.
type reqTrace struct {
	on     bool // this request carries a trace (World has a Tracing)
	record bool // the trace is sampled and there is an exporter: spans are kept
	exp    trace.Exporter
	tc     trace.Context // trace id, flags and tracestate; ParentID is the client's span
	remote bool          // tc came from the client
	root   trace.SpanID  // edged's span for the request (or the shadow mirror)
	parent trace.SpanID  // root's parent (the client's span, or the request's span for a mirror)
	invoke trace.SpanID  // the handle_request span: the parent the guest is told
	start  time.Time     // root's start, when recording
	spans  []trace.Span
	attrs  []trace.Attr // backing store of spans' Attrs
	buf    []byte       // traceparent scratch

	// Hooks for isolate.Handle: prop only propagates, rec also records.
	prop, rec       isolate.InvocationTrace
	propCtx, recCtx context.Context
}

// bind builds the invocation contexts on base (the context invocations run
// under) once per exchange or mirror.
func (t *reqTrace) bind(base context.Context) {
	t.prop.Fetch, t.prop.Publish = t.fetch, t.publish
	t.rec = isolate.InvocationTrace{Fetch: t.fetch, Publish: t.publish, Acquired: t.acquired, Called: t.called}
	t.propCtx = isolate.WithInvocationTrace(base, &t.prop)
	t.recCtx = isolate.WithInvocationTrace(base, &t.rec)
}

// reset clears the per-request state, keeping buffers and hooks.
func (t *reqTrace) reset() {
	clear(t.spans)
	t.spans = t.spans[:0]
	clear(t.attrs)
	t.attrs = t.attrs[:0]
	t.on, t.record, t.exp, t.remote = false, false, nil, false
	t.tc = trace.Context{}
	t.root, t.parent, t.invoke = trace.SpanID{}, trace.SpanID{}, trace.SpanID{}
}

// begin starts the trace of a request from its headers: it continues a single
// valid traceparent, or starts a new trace, and removes the client's
// traceparent and tracestate from h, since each target gets its own.
func (t *reqTrace) begin(cfg *Tracing, h *fasthttp.RequestHeader) {
	t.on = true
	var tp, ts []byte
	nTP, nTS := 0, 0
	for k, v := range h.All() {
		switch {
		case fieldname.Equal(k, trace.HeaderTraceparent):
			nTP++
			tp = v
		case fieldname.Equal(k, trace.HeaderTracestate):
			nTS++
			ts = v
		case fieldname.Equal(k, "Connection"):
			// The proxy strips every field Connection names; the trace fields
			// the targets get are edged's, not the client's to remove.
			fieldname.BlankTokens(v, isTraceField)
		}
	}
	ok := false
	if nTP == 1 && !cfg.IgnoreIncoming {
		t.tc, ok = trace.ParseTraceparent(tp)
	}
	if ok {
		t.remote = true
		t.parent = t.tc.ParentID
		// Several tracestate fields may legally be one list split in two;
		// edged does not join them, it drops them, as it does an invalid one.
		if nTS == 1 && trace.ValidTracestate(ts) {
			t.tc.State = string(ts)
		}
	} else {
		t.tc = trace.Context{TraceID: trace.NewID()}
		if cfg.SampleRatio >= 1 || (cfg.SampleRatio > 0 && rand.Float64() < cfg.SampleRatio) {
			t.tc.Flags = trace.FlagSampled
		}
	}
	if nTP > 0 {
		delFold(h, trace.HeaderTraceparent)
	}
	if nTS > 0 {
		delFold(h, trace.HeaderTracestate)
	}
	// Without recording, no span names edged's own: each hop gets a fresh
	// parent-id from toUpstream and toGuest, and the root needs none.
	if cfg.Exporter != nil && t.tc.Sampled() {
		t.record, t.exp = true, cfg.Exporter
		t.root = trace.NewSpanID()
		t.start = time.Now()
	}
}

// fork starts the trace of a shadow mirror of the request traced by parent:
// same trace, a new span under parent's root.
func (t *reqTrace) fork(parent *reqTrace) {
	t.on, t.record, t.exp = parent.on, parent.record, parent.exp
	t.tc = parent.tc
	t.parent = parent.root
	if t.record {
		t.root = trace.NewSpanID()
		t.start = time.Now()
	}
}

// traceparent returns the traceparent value naming span as the parent, in
// t's scratch buffer (valid until the next call).
func (t *reqTrace) traceparent(span trace.SpanID) []byte {
	t.buf = t.tc.AppendTraceparent(t.buf[:0], span)
	return t.buf
}

// toUpstream starts a client span for a request to the legacy upstream: it
// sets traceparent (and tracestate) on h and returns the span's id and start.
func (t *reqTrace) toUpstream(h *fasthttp.RequestHeader) (trace.SpanID, time.Time) {
	id := trace.NewSpanID()
	h.SetBytesV(trace.HeaderTraceparent, t.traceparent(id))
	if t.tc.State != "" {
		h.Set(trace.HeaderTracestate, t.tc.State)
	}
	var start time.Time
	if t.record {
		start = time.Now()
	}
	return id, start
}

// toGuest sets the traceparent the guest sees, naming the handle_request
// span, and returns the context to invoke the function with.
func (t *reqTrace) toGuest(req *isolate.Request) context.Context {
	t.invoke = trace.NewSpanID()
	req.Header.Set([]byte(trace.HeaderTraceparent), t.traceparent(t.invoke))
	if t.tc.State != "" {
		req.Header.SetString(trace.HeaderTracestate, t.tc.State)
	}
	t.rec.TraceID, t.prop.TraceID = t.tc.TraceID, t.tc.TraceID
	if t.record {
		return t.recCtx
	}
	return t.propCtx
}

// add records a finished span under parent. Its attributes are copied into
// t.attrs, which the exchange keeps from request to request, so recording
// does not allocate a slice per span.
func (t *reqTrace) add(name string, kind trace.Kind, id, parent trace.SpanID, start, end time.Time, errText string,
	attrs ...trace.Attr) {
	t.spans = append(t.spans, trace.Span{
		TraceID: t.tc.TraceID, SpanID: id, ParentID: parent, TraceState: t.tc.State,
		Name: name, Kind: kind, Start: start, End: end, Attrs: t.keep(attrs), Err: errText,
	})
}

// keep copies attrs into t.attrs and returns the copy. When t.attrs grows,
// spans recorded earlier keep the array they were copied into.
func (t *reqTrace) keep(attrs []trace.Attr) []trace.Attr {
	from := len(t.attrs)
	t.attrs = append(t.attrs, attrs...)
	return t.attrs[from:len(t.attrs):len(t.attrs)]
}

// upstreamDone records the client span of a legacy request started by
// toUpstream.
func (t *reqTrace) upstreamDone(id trace.SpanID, start time.Time, upstream string, status int) {
	if !t.record {
		return
	}
	t.add("edged.legacy", trace.KindClient, id, t.root, start, time.Now(), spanError(nil, status),
		trace.Str("edged.upstream", upstream), trace.Int("http.response.status_code", int64(status)))
}

// acquired, called and fetch are the isolate.InvocationTrace hooks.
func (t *reqTrace) acquired(cold bool, start, end time.Time, err error) {
	startKind := "warm"
	if cold {
		startKind = "cold"
	}
	t.add("edged.instantiate", trace.KindInternal, trace.NewSpanID(), t.root, start, end, spanError(err, 0),
		trace.Str("edged.start", startKind))
}

func (t *reqTrace) called(export string, start, end time.Time, err error) {
	id := t.invoke
	if export != "handle_request" {
		id = trace.NewSpanID()
	}
	t.add("edged.invoke", trace.KindInternal, id, t.root, start, end, spanError(err, 0), trace.Str("edged.export", export))
}

// fetch gives a guest's subrequest a traceparent under the handle_request
// span, unless the guest set a valid one in the same trace itself (a guest
// that traces its own work).
func (t *reqTrace) fetch(req *http.Request) func(int, error) {
	if tc, ok := trace.ParseTraceparent([]byte(req.Header.Get(trace.HeaderTraceparent))); ok && tc.TraceID == t.tc.TraceID &&
		len(req.Header.Values(trace.HeaderTraceparent)) == 1 {
		return nil
	}
	id := trace.NewSpanID()
	req.Header.Set(trace.HeaderTraceparent, string(t.traceparent(id)))
	if t.tc.State != "" {
		req.Header.Set(trace.HeaderTracestate, t.tc.State)
	} else {
		req.Header.Del(trace.HeaderTracestate)
	}
	if !t.record {
		return nil
	}
	start := time.Now()
	method, url := req.Method, req.URL.Redacted()
	return func(status int, err error) {
		t.add("edged.fetch", trace.KindClient, id, t.invoke, start, time.Now(), spanError(err, status),
			trace.Str("http.request.method", method), trace.Str("url.full", url),
			trace.Int("http.response.status_code", int64(status)))
	}
}

// publish gives an event the guest publishes the traceparent of the
// handle_request span, so the trigger consuming it continues the request's
// trace under that span.
func (t *reqTrace) publish() (traceparent, tracestate string) {
	return string(t.traceparent(t.invoke)), t.tc.State
}

// finish records the request's server span and hands every span to the
// exporter.
func (t *reqTrace) finish(ctx *fasthttp.RequestCtx, ws *worldState, path []byte, route, stage string) {
	if !t.record {
		return
	}
	status := ctx.Response.StatusCode()
	method := string(ctx.Method())
	name := method
	if route != "" {
		name = method + " " + route
	}
	t.spans = append(t.spans, trace.Span{
		TraceID: t.tc.TraceID, SpanID: t.root, ParentID: t.parent, RemoteParent: t.remote,
		TraceState: t.tc.State, Name: name, Kind: trace.KindServer, Start: t.start, End: time.Now(),
		Err: spanError(nil, status), Attrs: t.keep([]trace.Attr{
			trace.Str("http.request.method", method),
			trace.Str("url.path", string(path)),
			trace.Int("http.response.status_code", int64(status)),
			trace.Str("client.address", ws.clientAddr(ctx).String()),
			trace.Str("edged.route", route),
			trace.Str("edged.stage", stage),
		}),
	})
	t.exp.ExportSpans(t.spans)
}

// finishMirror records a shadow mirror's span, whose outcome is "match",
// "mismatch" or "skipped", and hands the mirror's spans to the exporter.
func (t *reqTrace) finishMirror(route, function, outcome string) {
	t.add("edged.shadow", trace.KindInternal, t.root, t.parent, t.start, time.Now(), "",
		trace.Str("edged.route", route), trace.Str("edged.function", function), trace.Str("edged.shadow.outcome", outcome))
	t.exp.ExportSpans(t.spans)
}

// matched records the route match span, which began with the request's
// (begin read the clock just before the match).
func (t *reqTrace) matched(route string) {
	if t.record {
		t.add("edged.match", trace.KindInternal, trace.NewSpanID(), t.root, t.start, time.Now(), "", trace.Str("edged.route", route))
	}
}

// spanError is a span's error text: err's, else the status text of a 5xx
// answer, else none.
func spanError(err error, status int) string {
	switch {
	case err != nil:
		return err.Error()
	case status >= 500:
		return http.StatusText(status)
	}
	return ""
}

// delFold deletes every field named name in any letter case. fasthttp's Del
// matches the exact case when name normalising is off, as it is for the
// proxy, which keeps clients' header case.
func delFold(h *fasthttp.RequestHeader, name string) {
	var key [32]byte
	// Bounded: a field DelBytes would not remove must not spin here.
	for range 64 {
		n := 0
		for k := range h.All() {
			if fieldname.Equal(k, name) {
				n = copy(key[:], k)
				break
			}
		}
		if n == 0 {
			return
		}
		h.DelBytes(key[:n])
	}
}

// traceIDString formats a request's trace id for a log line; "" when untraced.
func (t *reqTrace) traceIDString() string {
	if !t.on {
		return ""
	}
	return t.tc.TraceID.String()
}

// tracingCollector reports the current exporter's losses plus those of the
// exporters of Worlds swapped out, so the counters never go back on a reload.
type tracingCollector struct {
	s       *Server
	dropped *prometheus.Desc
	failed  *prometheus.Desc
}

func newTracingCollector(s *Server) *tracingCollector {
	return &tracingCollector{
		s: s,
		dropped: prometheus.NewDesc("edged_tracing_spans_dropped_total",
			"Spans of sampled requests dropped because the export queue was full (collector slow or down).", nil, nil),
		failed: prometheus.NewDesc("edged_tracing_spans_failed_total",
			"Spans the trace collector did not accept after retries.", nil, nil),
	}
}

func (c *tracingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.dropped; ch <- c.failed }

func (c *tracingCollector) Collect(ch chan<- prometheus.Metric) {
	c.s.baseMu.Lock()
	dropped, failed := c.s.traceBase.dropped, c.s.traceBase.failed
	c.s.baseMu.Unlock()
	if st := exporterStats(c.s.world.Load().w.Tracing); st != nil {
		dropped += st.Dropped()
		failed += st.Failed()
	}
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(dropped))
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(failed))
}

// exporterStats returns t's exporter's counters, or nil.
func exporterStats(t *Tracing) trace.ExporterStats {
	if t == nil {
		return nil
	}
	st, _ := t.Exporter.(trace.ExporterStats)
	return st
}

// sameStats reports whether a and b are the same exporter (a World swapped in
// with the exporter of the one it replaces), without comparing values whose
// type cannot be compared.
func sameStats(a, b trace.ExporterStats) bool {
	if b == nil {
		return false
	}
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && a == b
}

// isTraceField reports whether name is one of the trace context fields edged
// sets on every target's request.
func isTraceField(name []byte) bool {
	return fieldname.Equal(name, trace.HeaderTraceparent) || fieldname.Equal(name, trace.HeaderTracestate)
}
