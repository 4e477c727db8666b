package router

import (
	"bytes"
	"math"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
	"github.com/edged/edged/trace"
	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

// benchEdge is a Server whose Handler is driven with in-memory RequestCtx values, in
// front of a fasthttp upstream on loopback that answers a fixed 1 KiB.
func benchEdge(tb testing.TB, routes []strangler.Route, fns map[string]*isolate.Function) *Server {
	return benchEdgeTraced(tb, routes, fns, nil)
}

// benchEdgeTraced is benchEdge with tracing configured.
func benchEdgeTraced(tb testing.TB, routes []strangler.Route, fns map[string]*isolate.Function, tr *Tracing) *Server {
	tb.Helper()
	payload := make([]byte, 1024)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	ln := upstreamtest.Start(tb, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain")
		ctx.SetBody(payload)
	})
	up := newUpstream(tb, ln.Addr().String(), proxy.Options{})
	table, err := strangler.NewTable(routes)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := NewServer(Config{Table: table},
		&World{Upstreams: map[string]*proxy.Upstream{"up": up}, Functions: fns, Tracing: tr})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func newCtx(method, uri string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost("edge.example")
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}, nil)
	return ctx
}

func benchHandler(b *testing.B, s *Server, uri string, want string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := newCtx("GET", uri)
		n := 0
		for pb.Next() {
			n++
			ctx.Response.Reset()
			s.Handler(ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
		if got := string(ctx.Response.Body()); n > 0 && !strings.HasPrefix(got, want) {
			b.Errorf("body %q, want prefix %q", got, want)
		}
	})
}

// discardSpans is a trace.Exporter that drops what it gets, to measure what
// recording costs the request path apart from any exporter.
type discardSpans struct{}

func (discardSpans) ExportSpans([]trace.Span) {}

// tracingModes are the tracing set-ups the handler benchmarks compare: none,
// propagation only (the daemon's default), and recording every request.
var tracingModes = []struct {
	name string
	tr   *Tracing
}{
	{"untraced", nil},
	{"propagate", &Tracing{SampleRatio: 1}},
	{"record", &Tracing{SampleRatio: 1, Exporter: discardSpans{}}},
}

func BenchmarkHandlerLegacy(b *testing.B) {
	for _, m := range tracingModes {
		b.Run(m.name, func(b *testing.B) {
			s := benchEdgeTraced(b, []strangler.Route{
				{Name: "legacy", Path: "/api", Upstream: "up", Step: -1},
			}, nil, m.tr)
			benchHandler(b, s, "/api/users?id=1", "abcdef")
		})
	}
}

func BenchmarkHandlerIsolate(b *testing.B) {
	hello := loadFunction(b, guestHelloC, isolate.FunctionOptions{MinInstances: 4})
	for _, m := range tracingModes {
		b.Run(m.name, func(b *testing.B) {
			s := benchEdgeTraced(b, []strangler.Route{
				{Name: "iso", Path: "/fast", Function: "hello", Stage: strangler.StageRetired, Step: -1},
			}, map[string]*isolate.Function{"hello": hello}, m.tr)
			benchHandler(b, s, "/fast/hello", "Hello from C\n")
		})
	}
}

// BenchmarkMatch measures the normalise+lookup+dispatch decision alone.
func BenchmarkMatch(b *testing.B) {
	s := benchEdge(b, []strangler.Route{
		{Name: "legacy", Path: "/api", Upstream: "up", Step: -1},
	}, nil)
	ctx := newCtx("GET", "/api/users/42?x=1")
	x := s.acquireExchange()
	b.ReportAllocs()
	for b.Loop() {
		if !dispatchDecision(s, ctx, x) {
			b.Fatal("no route")
		}
	}
}

// dispatchDecision is what Handler does before it proxies a legacy request.
func dispatchDecision(s *Server, ctx *fasthttp.RequestCtx, x *exchange) bool {
	ws := s.world.Load()
	r, _ := s.match(ctx, s.table.Snapshot(), x)
	if r == nil {
		return false
	}
	rs := s.state(r.Name)
	opts := ws.options(r.Name)
	up := ws.w.Upstreams[r.Upstream]
	return rs != nil && opts != nil && up != nil && r.Stage == strangler.StageLegacy &&
		!canaryPicksIsolate(ctx, r, nil)
}

func TestDispatchDecisionAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	s := benchEdge(t, []strangler.Route{
		{Name: "legacy", Path: "/api", Upstream: "up", Step: -1},
		{Name: "canary", Path: "/c", Upstream: "up", Function: "f", Stage: strangler.StageCanary, Weight: 30,
			Sticky: "header:X-User", Step: -1},
	}, map[string]*isolate.Function{"f": nil})
	ctx := newCtx("GET", "/api/a/../users/%7E42?x=1")
	ctx2 := newCtx("GET", "/c/x")
	ctx2.Request.Header.Set("X-User", "alice")
	// Read twice (inclusive and literal: %2F and ';'), and upper-case.
	ctx3 := newCtx("GET", "/API/a%2Fb/c;jsessionid=1")
	x := s.acquireExchange()
	dispatchDecision(s, ctx, x) // warm: first use creates the route state
	s.match(ctx2, s.table.Snapshot(), x)
	s.state("canary")
	allocs := testing.AllocsPerRun(1000, func() {
		if !dispatchDecision(s, ctx, x) {
			t.Fatal("no legacy route")
		}
		if !dispatchDecision(s, ctx3, x) {
			t.Fatal("no legacy route for an ambiguous path")
		}
		r, _ := s.match(ctx2, s.table.Snapshot(), x)
		_ = canaryPicksIsolate(ctx2, r, nil)
		_ = s.state(r.Name)
	})
	if allocs != 0 {
		t.Errorf("match and dispatch decision: %v allocations per request, want 0", allocs)
	}
}

func TestCanaryHashAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	ctx := newCtx("GET", "/")
	ctx.Request.Header.Set("Cookie", "sid=abc; other=1")
	for _, sticky := range []string{"", "ip", "header:Host", "cookie:sid"} {
		r := &strangler.Route{Name: "r", Weight: 50, Sticky: sticky}
		if a := testing.AllocsPerRun(100, func() { canaryPicksIsolate(ctx, r, nil) }); a != 0 {
			t.Errorf("canaryPicksIsolate(sticky %q): %v allocations, want 0", sticky, a)
		}
	}
}

// inherentLegacyAllocs is what fasthttp's HostClient allocates per streamed
// response (StreamResponseBody, trap 8 in docs/proxy.md): the body stream and
// three closures in transport.RoundTrip. The legacy path allocates nothing else.
const inherentLegacyAllocs = 4

// TestHandlerAllocs runs Server.Handler as a whole, match to answer, on a legacy
// route (1 KiB answer, the copied small-body path) and on an isolate route, with
// and without tracing propagated.
func TestHandlerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	if !inFreshProcess(t) {
		return
	}
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{MinInstances: 1})
	routes := []strangler.Route{
		{Name: "legacy", Path: "/api", Upstream: "up", Step: -1},
		{Name: "iso", Path: "/fast", Function: "hello", Stage: strangler.StageRetired, Step: -1},
	}
	tests := []struct {
		name, uri string
		tr        *Tracing
		want      float64
	}{
		{"legacy", "/api/users?id=1", nil, inherentLegacyAllocs},
		{"legacy, propagated trace", "/api/users?id=1", &Tracing{SampleRatio: 1}, inherentLegacyAllocs},
		{"isolate", "/fast/hello", nil, 0},
		{"isolate, propagated trace", "/fast/hello", &Tracing{SampleRatio: 1}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := benchEdgeTraced(t, routes, map[string]*isolate.Function{"hello": hello}, tc.tr)
			ctx := newCtx("GET", tc.uri)
			serve := func() {
				ctx.Response.Reset()
				s.Handler(ctx)
				if ctx.Response.StatusCode() != 200 {
					t.Fatalf("GET %s = %d %q", tc.uri, ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
			serve() // warm: route state, pools, the upstream connection
			if got := leastAllocs(200, serve); got > tc.want {
				t.Errorf("Handler(GET %s): %v allocations per request, want at most %v", tc.uri, got, tc.want)
			}
		})
	}
}

// TestHandlerAllocsCanary runs a canary route for two users that its sticky key
// sends to different sides, measuring each side with the canary pick included.
func TestHandlerAllocsCanary(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	if !inFreshProcess(t) {
		return
	}
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{MinInstances: 1})
	route := strangler.Route{Name: "canary", Path: "/can", Function: "hello", Upstream: "up",
		Stage: strangler.StageCanary, Weight: 50, Sticky: "header:x-user", Step: -1}
	s := benchEdgeTraced(t, []strangler.Route{route}, map[string]*isolate.Function{"hello": hello}, nil)
	ctx := newCtx("GET", "/can/hello")
	// One user per side, found by asking the pick itself.
	var users [2][]byte // [0] legacy, [1] isolate
	for i := 0; i < 1000 && (users[0] == nil || users[1] == nil); i++ {
		u := []byte("user-" + strconv.Itoa(i))
		ctx.Request.Header.SetBytesV("x-user", u)
		side := 0
		if canaryPicksIsolate(ctx, &route, nil) {
			side = 1
		}
		if users[side] == nil {
			users[side] = u
		}
	}
	if users[0] == nil || users[1] == nil {
		t.Fatal("no pair of users splits a 50% canary")
	}
	for side, want := range []float64{inherentLegacyAllocs, 0} {
		ctx.Request.Header.SetBytesV("x-user", users[side])
		serve := func() {
			ctx.Response.Reset()
			s.Handler(ctx)
			if ctx.Response.StatusCode() != 200 {
				t.Fatalf("GET /can/hello = %d %q", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
		// The pick costs nothing: the isolate side allocates no more than an
		// isolate route, the legacy side no more than a legacy route.
		if got := leastAllocs(200, serve); got > want {
			t.Errorf("Handler(canary, %s side): %v allocations per request, want at most %v",
				[]string{"legacy", "isolate"}[side], got, want)
		}
	}
}

// freshProcessEnv marks the child process of inFreshProcess.
const freshProcessEnv = "EDGED_ROUTER_FRESH_PROCESS"

// inFreshProcess runs the calling test again, alone, in a new process of the
// test binary, and reports whether the caller is that process and should do
// the work. Allocation counts of the legacy path depend on fasthttp's
// process-global byte-buffer pools, which calibrate their kept sizes on the
// traffic of earlier tests (TestInstallHammer's small answers make the pools
// drop the 1 KiB buffers a legacy answer needs); a fresh process measures what
// a daemon serving one kind of traffic settles at.
func inFreshProcess(t *testing.T) bool {
	t.Helper()
	if os.Getenv(freshProcessEnv) == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), freshProcessEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("%s in a fresh process: %v\n%s", t.Name(), err, out)
	}
	return false
}

// leastAllocs is testing.AllocsPerRun taken three times after a GC, keeping the
// least. AllocsPerRun counts the whole process, so goroutines that earlier
// tests left winding down add to a run, and they only ever add. (fasthttp's
// global byte-buffer pools calibrate on earlier tests' traffic too, which can
// still add one allocation on the legacy path; the bounds allow for it only
// where the legacy path runs.)
func leastAllocs(runs int, f func()) float64 {
	least := math.Inf(1)
	for range 3 {
		runtime.GC()
		least = min(least, testing.AllocsPerRun(runs, f))
	}
	return least
}
