package router

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/edged/edged/corpus"
	"github.com/edged/edged/internal/fieldname"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"
)

// Record starts recording the route named route into w (docs/record-replay.md),
// or stops it when w is nil, and returns the Writer it replaces, which the caller
// closes. Recording is per route name, so it survives reloads. A route records
// while it is in the legacy or shadow stage: in shadow, every mirrored request with
// the function's host calls (fetch answers, secret names) and its answer; requests
// not mirrored (unsafe methods, a full mirror semaphore) and every request in
// legacy, with legacy's answer only. w.Sample picks the share; records are queued
// to w without blocking and dropped when its queue is full
// (edged_record_records_total{result="dropped"}). A route that is not recording
// costs one atomic load per request.
func (s *Server) Record(route string, w *corpus.Writer) *corpus.Writer {
	return s.state(route).rec.Swap(w)
}

// Recording returns the Writer the route named route records into, nil when it
// is not recording.
func (s *Server) Recording(route string) *corpus.Writer {
	if rs, ok := (*s.states.Load())[route]; ok {
		return rs.rec.Load()
	}
	return nil
}

// queue hands rec to w and counts the outcome.
func (rs *routeState) queue(w *corpus.Writer, rec *corpus.Record) {
	if w.Write(rec) {
		rs.recQueued.Inc()
	} else {
		rs.recDropped.Inc()
	}
}

// recordLegacy records a request legacy answered, on the request path: it runs
// only while the route records, and copies what it needs before the exchange ends.
func (s *Server) recordLegacy(ctx *fasthttp.RequestCtx, route *strangler.Route, rs *routeState, w *corpus.Writer,
	x *exchange, d time.Duration) {
	if route.Stage != strangler.StageLegacy && route.Stage != strangler.StageShadow || !w.Sample() {
		return
	}
	rec := &corpus.Record{
		Route:   route.Name,
		Stage:   route.Stage.String(),
		Time:    time.Now().Add(-d).UTC(),
		TraceID: x.tr.traceIDString(),
		Latency: corpus.Latency{LegacyMS: ms(d)},
	}
	req := &ctx.Request
	rec.Entry.Request = corpus.NewRequest(string(req.Header.Method()),
		absoluteURL(ctx.IsTLS(), req.Header.Host(), req.Header.RequestURI()), string(req.Header.Protocol()),
		fastPairs(req.Header.All()), req.Body())
	rec.Entry.Response = legacyEntry(&ctx.Response)
	fillTimes(&rec.Entry, rec.Time, d)
	rs.queue(w, rec)
}

// legacyEntry is the HAR response of legacy's answer r; a streamed body is not
// read (it is on its way to the client) and is marked truncated.
func legacyEntry(r *fasthttp.Response) corpus.Response {
	var body []byte
	streamed := r.IsBodyStream()
	if !streamed {
		body = r.Body()
	}
	out := corpus.NewResponse(r.StatusCode(), "HTTP/1.1", fastPairs(r.Header.All()), body)
	out.Truncated = streamed
	return out
}

// mirrorRecording is a mirror's record in the making; the HostCalls it gives the
// guest append to it. Pooled with the mirror.
type mirrorRecording struct {
	w       *corpus.Writer
	hc      isolate.HostCalls
	fetches []corpus.Fetch
	secrets []string
	legacy  time.Duration
	start   time.Time
	req     corpus.Request
}

func (r *mirrorRecording) bind() {
	r.hc.Fetch = r.fetch
	r.hc.Secret = func(name string, _ bool) {
		if !slices.Contains(r.secrets, name) {
			r.secrets = append(r.secrets, name)
		}
	}
}

func (r *mirrorRecording) reset() {
	r.w, r.fetches, r.secrets, r.req = nil, nil, nil, corpus.Request{}
}

// begin snapshots the request before the guest may rewrite it.
func (r *mirrorRecording) begin(req *isolate.Request, tls bool) {
	var host []byte
	hdr := make([]corpus.NameValue, 0, req.Header.Len())
	for i := range req.Header.Len() {
		k, v := req.Header.At(i)
		if host == nil && fieldname.Equal(k, "Host") {
			host = v
		}
		hdr = append(hdr, corpus.NameValue{Name: string(k), Value: string(v)})
	}
	r.req = corpus.NewRequest(string(req.Method), absoluteURL(tls, host, req.URI), string(req.Protocol), hdr, req.Body)
}

// fetch sends a guest's subrequest through the egress client and records it and
// its answer, read whole (the egress client caps it at the policy's
// max_subrequest_body). A body that fails to read fails the fetch itself.
func (r *mirrorRecording) fetch(ctx context.Context, req *http.Request, next isolate.FetchFunc) (*http.Response, error) {
	var body []byte
	if req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			body, _ = io.ReadAll(rc)
		}
	}
	f := corpus.Fetch{Request: corpus.NewRequest(req.Method, req.URL.String(), "HTTP/1.1", httpPairs(req.Header), body)}
	resp, err := next(ctx, req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err == nil {
			resp.Body = io.NopCloser(bytes.NewReader(b))
			rr := corpus.NewResponse(resp.StatusCode, resp.Proto, httpPairs(resp.Header), b)
			f.Response = &rr
		}
	}
	if err != nil {
		f.Error = corpus.FetchErrorKind(err)
		resp = nil
	}
	r.fetches = append(r.fetches, f)
	return resp, err
}

// finish queues the mirror's record.
func (s *Server) finishRecording(m *mirror, rs *routeState, status int, field string, d time.Duration) {
	r := &m.rec
	rec := &corpus.Record{
		Route:    rs.name,
		Stage:    strangler.StageShadow.String(),
		Time:     r.start.UTC(),
		TraceID:  m.tr.traceIDString(),
		Latency:  corpus.Latency{LegacyMS: ms(r.legacy), FunctionMS: ms(d)},
		Function: &corpus.FunctionResult{Status: status, Mismatch: field},
		Fetches:  r.fetches,
		Secrets:  r.secrets,
		Noise:    rs.noise.List(),
	}
	rec.Entry.Request = r.req
	rec.Entry.Response = legacyEntry(&m.legacy)
	fillTimes(&rec.Entry, rec.Time, r.legacy)
	rs.queue(r.w, rec)
}

func fillTimes(e *corpus.Entry, start time.Time, d time.Duration) {
	e.StartedDateTime = start
	e.Time = ms(d)
	e.Timings = corpus.Timings{Send: -1, Wait: ms(d), Receive: -1}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func absoluteURL(tls bool, host, uri []byte) string {
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	if len(host) == 0 {
		host = []byte("localhost")
	}
	return scheme + string(host) + string(uri)
}

func fastPairs(all func(yield func(k, v []byte) bool)) []corpus.NameValue {
	var out []corpus.NameValue
	for k, v := range all {
		out = append(out, corpus.NameValue{Name: string(k), Value: string(v)})
	}
	return out
}

func httpPairs(h http.Header) []corpus.NameValue {
	var out []corpus.NameValue
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			out = append(out, corpus.NameValue{Name: k, Value: v})
		}
	}
	return out
}
