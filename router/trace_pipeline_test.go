package router

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
	"github.com/edged/edged/trace"
	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

// spanSink is a trace.Exporter that hands each export, copied, to a channel.
type spanSink chan []trace.Span

func (s spanSink) ExportSpans(spans []trace.Span) {
	out := make([]trace.Span, len(spans))
	for i, sp := range spans {
		sp.Attrs = slices.Clone(sp.Attrs)
		out[i] = sp
	}
	s <- out
}

// next waits for one export.
func (s spanSink) next(t *testing.T) []trace.Span {
	t.Helper()
	select {
	case spans := <-s:
		return spans
	case <-time.After(20 * time.Second):
		t.Fatal("no spans exported")
		return nil
	}
}

// find returns the span named name; it fails the test when there is not exactly one.
func find(t *testing.T, spans []trace.Span, name string) trace.Span {
	t.Helper()
	var found []trace.Span
	for _, s := range spans {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q in %v, want 1", len(found), name, names(spans))
	}
	return found[0]
}

func names(spans []trace.Span) []string {
	var n []string
	for _, s := range spans {
		n = append(n, s.Name)
	}
	return n
}

func attr(s trace.Span, key string) string {
	for _, a := range s.Attrs {
		if a.Key == key {
			if a.IsInt {
				return fmt.Sprint(a.Int)
			}
			return a.Str
		}
	}
	return ""
}

// traceHeaders is what an upstream saw of trace context: every traceparent and
// tracestate field, in any case.
type traceHeaders struct{ parents, states []string }

// recordingUpstream answers 200 and sends the trace headers of each request it
// gets to the returned channel.
func recordingUpstream(t *testing.T) (string, chan traceHeaders) {
	ch := make(chan traceHeaders, 16)
	ln := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		var th traceHeaders
		for k, v := range ctx.Request.Header.All() {
			switch strings.ToLower(string(k)) {
			case trace.HeaderTraceparent:
				th.parents = append(th.parents, string(v))
			case trace.HeaderTracestate:
				th.states = append(th.states, string(v))
			}
		}
		ch <- th
		ctx.SetBodyString("legacy")
	})
	return ln.Addr().String(), ch
}

const (
	clientTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientParent = "00f067aa0ba902b7"
	clientTP     = "00-" + clientTrace + "-" + clientParent + "-01"
)

// TestTracingLegacy checks trace context on the legacy path: continued or
// started, passed to the upstream under edged's own span, and the spans
// exported.
func TestTracingLegacy(t *testing.T) {
	addr, seen := recordingUpstream(t)
	sink := make(spanSink, 16)
	routes := []strangler.Route{{Name: "legacy", Path: "/", Upstream: "up", Stage: strangler.StageLegacy}}
	tracing := &Tracing{Exporter: sink, SampleRatio: 1}
	e := startEdge(t, routes, &World{Upstreams: map[string]*proxy.Upstream{"up": upstreamFor(t, addr)}, Tracing: tracing})

	tests := []struct {
		name      string
		hdr       map[string]string
		continue_ bool
		state     string
	}{
		{"continues a valid traceparent", map[string]string{"Traceparent": clientTP, "Tracestate": "rojo=1,congo=2"}, true, "rojo=1,congo=2"},
		{"drops an invalid tracestate", map[string]string{"traceparent": clientTP, "tracestate": "BAD KEY=1"}, true, ""},
		{"starts a trace without one", nil, false, ""},
		{"starts a trace for an invalid one", map[string]string{"traceparent": strings.ToUpper(clientTP), "tracestate": "rojo=1"}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, "GET", "http://"+e.addr+"/x", tc.hdr, "")
			if r.status != 200 {
				t.Fatalf("status %d", r.status)
			}
			th := <-seen
			if len(th.parents) != 1 {
				t.Fatalf("upstream saw traceparent %q, want exactly one", th.parents)
			}
			up, ok := trace.ParseTraceparent([]byte(th.parents[0]))
			if !ok || !up.Sampled() {
				t.Fatalf("upstream traceparent %q does not parse or is not sampled", th.parents[0])
			}
			if got := strings.Join(th.states, ","); got != tc.state {
				t.Errorf("upstream tracestate %q, want %q", got, tc.state)
			}
			if (up.TraceID.String() == clientTrace) != tc.continue_ {
				t.Errorf("upstream trace id %s; client's %s; continued want %v", up.TraceID, clientTrace, tc.continue_)
			}
			spans := sink.next(t)
			root := find(t, spans, "GET legacy")
			legacy := find(t, spans, "edged.legacy")
			match := find(t, spans, "edged.match")
			if legacy.SpanID != up.ParentID {
				t.Errorf("upstream's parent %s is not the legacy span %s", up.ParentID, legacy.SpanID)
			}
			if legacy.ParentID != root.SpanID || match.ParentID != root.SpanID {
				t.Errorf("legacy and match spans are not children of the request span")
			}
			if root.Kind != trace.KindServer || legacy.Kind != trace.KindClient {
				t.Errorf("kinds %v %v, want server, client", root.Kind, legacy.Kind)
			}
			if tc.continue_ != (root.ParentID.String() == clientParent && root.RemoteParent) {
				t.Errorf("request span parent %s remote %v; continued want %v", root.ParentID, root.RemoteParent, tc.continue_)
			}
			if got := attr(root, "http.response.status_code"); got != "200" {
				t.Errorf("status attribute %q", got)
			}
			for _, s := range spans {
				if s.TraceID != up.TraceID || s.End.Before(s.Start) {
					t.Errorf("span %s: trace %s, %v..%v", s.Name, s.TraceID, s.Start, s.End)
				}
			}
		})
	}

	t.Run("two traceparents start a trace", func(t *testing.T) {
		c := upstreamtest.Dial(t, e.addr)
		resp := c.Do(t, "GET /x HTTP/1.1\r\nHost: a\r\ntraceparent: "+clientTP+"\r\nTraceparent: "+clientTP+"\r\n\r\n")
		if resp.StatusCode() != 200 {
			t.Fatalf("status %d", resp.StatusCode())
		}
		th := <-seen
		if len(th.parents) != 1 || strings.Contains(th.parents[0], clientTrace) {
			t.Errorf("upstream saw %q, want one new traceparent", th.parents)
		}
		sink.next(t)
	})
	t.Run("connection cannot strip edged's traceparent", func(t *testing.T) {
		// Connection names the fields the proxy must strip; the client's trace
		// fields are replaced by edged's own, which are not the client's to remove.
		c := upstreamtest.Dial(t, e.addr)
		resp := c.Do(t, "GET /x HTTP/1.1\r\nHost: a\r\ntraceparent: "+clientTP+
			"\r\ntracestate: rojo=1\r\nConnection: keep-alive, Traceparent,TRACESTATE, x-other\r\n\r\n")
		if resp.StatusCode() != 200 {
			t.Fatalf("status %d", resp.StatusCode())
		}
		th := <-seen
		if len(th.parents) != 1 || !strings.Contains(th.parents[0], clientTrace) {
			t.Errorf("upstream saw traceparent %q, want one continuing the client's trace", th.parents)
		}
		if got := strings.Join(th.states, ","); got != "rojo=1" {
			t.Errorf("upstream tracestate %q, want %q", got, "rojo=1")
		}
		sink.next(t)
	})
	t.Run("ignore incoming", func(t *testing.T) {
		tracing.IgnoreIncoming = true
		defer func() { tracing.IgnoreIncoming = false }()
		send(t, "GET", "http://"+e.addr+"/x", map[string]string{"traceparent": clientTP}, "")
		if th := <-seen; strings.Contains(th.parents[0], clientTrace) {
			t.Errorf("upstream saw the client's trace %q", th.parents)
		}
		sink.next(t)
	})
	t.Run("unsampled is propagated, not exported", func(t *testing.T) {
		send(t, "GET", "http://"+e.addr+"/x", map[string]string{"traceparent": "00-" + clientTrace + "-" + clientParent + "-00"}, "")
		th := <-seen
		if up, ok := trace.ParseTraceparent([]byte(th.parents[0])); !ok || up.Sampled() || up.TraceID.String() != clientTrace {
			t.Errorf("upstream saw %q, want the client's trace, unsampled", th.parents)
		}
		select {
		case spans := <-sink:
			t.Errorf("unsampled request exported %v", names(spans))
		default:
		}
	})
}

// TestTracingIsolate checks the isolate path: the guest sees a traceparent
// naming the invoke span, its fetch carries one naming the fetch span, and
// a guest's next carries one naming the legacy span; instantiate (cold, then
// warm) and invoke spans are exported.
func TestTracingIsolate(t *testing.T) {
	origin := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin <- r.Header.Get(trace.HeaderTraceparent)
		_, _ = w.Write([]byte("origin"))
	}))
	defer srv.Close()
	p, err := limits.ParsePattern(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	addr, seen := recordingUpstream(t)
	sink := make(spanSink, 16)
	routes := []strangler.Route{
		{Name: "echo", Path: "/echo", Function: "echo", Stage: strangler.StageRetired},
		{Name: "fetch", Path: "/fetch", Function: "fetch", Stage: strangler.StageRetired},
		{Name: "mw", Path: "/mw", Function: "next", Upstream: "up", Stage: strangler.StageIsolate},
	}
	e := startEdge(t, routes, &World{
		Upstreams: map[string]*proxy.Upstream{"up": upstreamFor(t, addr)},
		Functions: map[string]*isolate.Function{
			"echo":  loadFunction(t, "../examples/guests/echo/echo.wasm", isolate.FunctionOptions{}),
			"fetch": loadFunction(t, "../examples/guests/fetch/fetch.wasm", isolate.FunctionOptions{Policy: limits.Policy{Egress: limits.Egress{Allow: []limits.Pattern{p}}}}),
			"next":  loadFunction(t, guestNext, isolate.FunctionOptions{}),
		},
		Tracing: &Tracing{Exporter: sink, SampleRatio: 1},
	})

	t.Run("guest sees the invoke span", func(t *testing.T) {
		for i, start := range []string{"cold", "warm"} {
			r := send(t, "GET", "http://"+e.addr+"/echo", map[string]string{"traceparent": clientTP, "tracestate": "rojo=1"}, "")
			var got struct{ Headers map[string][]string }
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatalf("echo answer %q: %v", r.body, err)
			}
			tp := got.Headers["Traceparent"]
			if len(tp) != 1 || !strings.HasPrefix(tp[0], "00-"+clientTrace+"-") {
				t.Fatalf("request %d: guest saw traceparent %q in %v", i, tp, got.Headers)
			}
			if ts := got.Headers["Tracestate"]; len(ts) != 1 || ts[0] != "rojo=1" {
				t.Errorf("guest saw tracestate %q", ts)
			}
			spans := sink.next(t)
			inv := find(t, spans, "edged.invoke")
			inst := find(t, spans, "edged.instantiate")
			if want := "00-" + clientTrace + "-" + inv.SpanID.String() + "-01"; tp[0] != want {
				t.Errorf("guest saw %s, want the invoke span's %s", tp[0], want)
			}
			if got := attr(inst, "edged.start"); got != start {
				t.Errorf("request %d: edged.start = %q, want %q", i, got, start)
			}
			if attr(inv, "edged.export") != "handle_request" {
				t.Errorf("invoke export %q", attr(inv, "edged.export"))
			}
		}
	})
	t.Run("fetch carries the fetch span", func(t *testing.T) {
		r := send(t, "GET", "http://"+e.addr+"/fetch?url="+srv.URL+"/o", map[string]string{"traceparent": clientTP}, "")
		if r.status != 200 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		got := <-origin
		spans := sink.next(t)
		fetch := find(t, spans, "edged.fetch")
		inv := find(t, spans, "edged.invoke")
		if want := "00-" + clientTrace + "-" + fetch.SpanID.String() + "-01"; got != want {
			t.Errorf("origin saw %q, want %q", got, want)
		}
		if fetch.ParentID != inv.SpanID || fetch.Kind != trace.KindClient || attr(fetch, "http.response.status_code") != "200" {
			t.Errorf("fetch span %+v, invoke %s", fetch, inv.SpanID)
		}
	})
	t.Run("next carries the legacy span", func(t *testing.T) {
		send(t, "GET", "http://"+e.addr+"/mw", map[string]string{"traceparent": clientTP}, "")
		th := <-seen
		spans := sink.next(t)
		legacy := find(t, spans, "edged.legacy")
		if want := "00-" + clientTrace + "-" + legacy.SpanID.String() + "-01"; len(th.parents) != 1 || th.parents[0] != want {
			t.Errorf("upstream saw %q, want %q", th.parents, want)
		}
		var exports []string
		for _, s := range spans {
			if s.Name == "edged.invoke" {
				exports = append(exports, attr(s, "edged.export"))
			}
		}
		if fmt.Sprint(exports) != "[handle_request handle_response]" {
			t.Errorf("invoke spans for %v", exports)
		}
	})
}

// TestTracingShadow checks that a shadow mirror is a span of the request's
// trace, exported when the comparison is done.
func TestTracingShadow(t *testing.T) {
	mono := upstreamtest.StartMonolith(t)
	sink := make(spanSink, 16)
	routes := []strangler.Route{{Name: "users", Path: "/api/users", Upstream: "mono", Function: "jsonapi", Stage: strangler.StageShadow}}
	e := startEdge(t, routes, &World{
		Upstreams: map[string]*proxy.Upstream{"mono": upstreamFor(t, mono)},
		Functions: map[string]*isolate.Function{"jsonapi": loadFunction(t, guestJSONAPI, isolate.FunctionOptions{})},
		Routes:    map[string]RouteOptions{"users": {Fallback: true, NoiseSample: -1}},
		Tracing:   &Tracing{Exporter: sink, SampleRatio: 1},
	})
	send(t, "GET", "http://"+e.addr+"/api/users/1", map[string]string{"traceparent": clientTP}, "")
	e.waitMirror(t, 1)
	var all []trace.Span
	for len(all) == 0 || !slices.ContainsFunc(all, func(s trace.Span) bool { return s.Name == "edged.shadow" }) ||
		!slices.ContainsFunc(all, func(s trace.Span) bool { return s.Kind == trace.KindServer }) {
		all = append(all, sink.next(t)...)
	}
	root := find(t, all, "GET users")
	shadow := find(t, all, "edged.shadow")
	inv := find(t, all, "edged.invoke")
	if shadow.ParentID != root.SpanID || inv.ParentID != shadow.SpanID {
		t.Errorf("shadow span under %s (request %s), invoke under %s (shadow %s)", shadow.ParentID, root.SpanID,
			inv.ParentID, shadow.SpanID)
	}
	if got := attr(shadow, "edged.shadow.outcome"); got != "match" && got != "mismatch" {
		t.Errorf("shadow outcome %q", got)
	}
}

// TestTracingNoiseProbe checks that the shadow noise probe, legacy's second copy of
// a mirrored request, is traced like every other upstream call: legacy sees a
// traceparent in the request's trace naming a span of edged's own, and that span is
// an edged.legacy client span under the mirror's edged.shadow span.
func TestTracingNoiseProbe(t *testing.T) {
	addr, seen := recordingUpstream(t)
	sink := make(spanSink, 16)
	routes := []strangler.Route{{Name: "users", Path: "/api/users", Upstream: "up", Function: "jsonapi", Stage: strangler.StageShadow}}
	e := startEdge(t, routes, &World{
		Upstreams: map[string]*proxy.Upstream{"up": upstreamFor(t, addr)},
		Functions: map[string]*isolate.Function{"jsonapi": loadFunction(t, guestJSONAPI, isolate.FunctionOptions{})},
		Routes:    map[string]RouteOptions{"users": {NoiseSample: 1}},
		Tracing:   &Tracing{Exporter: sink, SampleRatio: 1},
	})
	send(t, "GET", "http://"+e.addr+"/api/users/1", map[string]string{"traceparent": clientTP}, "")
	e.waitMirror(t, 1)
	var parents []string
	for range 2 {
		select {
		case th := <-seen:
			if len(th.parents) != 1 || !strings.HasPrefix(th.parents[0], "00-"+clientTrace+"-") {
				t.Fatalf("legacy got traceparent %q, want one in trace %s", th.parents, clientTrace)
			}
			parents = append(parents, th.parents[0])
		case <-time.After(20 * time.Second):
			t.Fatalf("legacy got %d requests, want 2 (the request and the noise probe)", len(parents))
		}
	}
	var all []trace.Span
	for !slices.ContainsFunc(all, func(s trace.Span) bool { return s.Name == "edged.shadow" }) ||
		!slices.ContainsFunc(all, func(s trace.Span) bool { return s.Kind == trace.KindServer }) {
		all = append(all, sink.next(t)...)
	}
	root := find(t, all, "GET users")
	shadow := find(t, all, "edged.shadow")
	under := map[trace.SpanID]string{root.SpanID: "request", shadow.SpanID: "shadow"}
	var got []string
	for _, s := range all {
		if s.Name != "edged.legacy" {
			continue
		}
		got = append(got, under[s.ParentID])
		if want := "00-" + clientTrace + "-" + s.SpanID.String() + "-01"; !slices.Contains(parents, want) {
			t.Errorf("span %s: legacy saw no traceparent %q, only %q", s.SpanID, want, parents)
		}
	}
	slices.Sort(got)
	if fmt.Sprint(got) != "[request shadow]" {
		t.Errorf("edged.legacy spans under %q, want one under the request and one under the shadow mirror", got)
	}
}

// lossyExporter is a trace.Exporter that reports fixed losses.
type lossyExporter struct{ dropped, failed uint64 }

func (*lossyExporter) ExportSpans([]trace.Span) {}
func (e *lossyExporter) Dropped() uint64        { return e.dropped }
func (e *lossyExporter) Failed() uint64         { return e.failed }

// TestTracingMetrics checks the span-loss counters, and that they do not go
// back when a reload brings a new exporter.
func TestTracingMetrics(t *testing.T) {
	table, err := strangler.NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	first := &lossyExporter{dropped: 5, failed: 2}
	s, err := NewServer(Config{Table: table}, &World{Tracing: &Tracing{Exporter: first}})
	if err != nil {
		t.Fatal(err)
	}
	scrape := func() string {
		rec := httptest.NewRecorder()
		s.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		var out []string
		for _, l := range strings.Split(rec.Body.String(), "\n") {
			if strings.HasPrefix(l, "edged_tracing_spans_") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "; ")
	}
	steps := []struct {
		name string
		w    *World
		want string
	}{
		{"first exporter", nil, "edged_tracing_spans_dropped_total 5; edged_tracing_spans_failed_total 2"},
		{"same exporter swapped in", &World{Tracing: &Tracing{Exporter: first}}, "edged_tracing_spans_dropped_total 5; edged_tracing_spans_failed_total 2"},
		{"new exporter", &World{Tracing: &Tracing{Exporter: &lossyExporter{dropped: 1}}}, "edged_tracing_spans_dropped_total 6; edged_tracing_spans_failed_total 2"},
		{"tracing off", &World{}, "edged_tracing_spans_dropped_total 6; edged_tracing_spans_failed_total 2"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.w != nil {
				if _, err := s.Swap(st.w); err != nil {
					t.Fatalf("Swap refused the World: %v", err)
				}
			}
			if got := scrape(); got != st.want {
				t.Errorf("metrics %q, want %q", got, st.want)
			}
		})
	}
}

// TestAccessLog checks the access log line: the request's facts, the route,
// the client address and the trace id the upstream saw.
func TestAccessLog(t *testing.T) {
	addr, seen := recordingUpstream(t)
	var mu sync.Mutex
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	routes := []strangler.Route{{Name: "legacy", Path: "/", Upstream: "up", Stage: strangler.StageLegacy}}
	e := startEdgeConfig(t, routes, &World{Upstreams: map[string]*proxy.Upstream{"up": upstreamFor(t, addr)},
		Tracing: &Tracing{SampleRatio: 1}}, Config{AccessLog: log})
	send(t, "GET", "http://"+e.addr+"/x/"+strings.Repeat("a", 2000)+"?q=1", nil, "")
	th := <-seen
	up, _ := trace.ParseTraceparent([]byte(th.parents[0]))
	mu.Lock()
	line := buf.String()
	mu.Unlock()
	for _, want := range []string{"msg=request", "method=GET", "path=/x/aaaa", "status=200", "route=legacy",
		"stage=legacy", "client=127.0.0.1", "trace_id=" + up.TraceID.String(), "duration="} {
		if !strings.Contains(line, want) {
			t.Errorf("access log %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "q=1") || strings.Count(line, "a") > maxLoggedPath+100 {
		t.Errorf("access log line of %d bytes logs the query or the whole path", len(line))
	}
}

// lockedWriter serialises writes to a buffer shared with the test.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
