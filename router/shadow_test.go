package router

import (
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

func TestShadowCompare(t *testing.T) {
	mono := upstreamtest.StartMonolith(t)
	api := loadFunction(t, guestJSONAPI, isolate.FunctionOptions{})
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{})
	e := startEdge(t, []strangler.Route{
		// The isolate's third user differs from the monolith's (Turing vs Dijkstra).
		{Name: "users", Path: "/api/users", Methods: []string{"GET"}, Function: "api", Upstream: "mono", Stage: strangler.StageShadow},
		{Name: "hello", Path: "/hello", Function: "hello", Upstream: "mono", Stage: strangler.StageShadow},
	}, &World{
		Upstreams: map[string]*proxy.Upstream{"mono": upstreamFor(t, mono)},
		Functions: map[string]*isolate.Function{"api": api, "hello": hello},
		Routes: map[string]RouteOptions{
			"users": {IgnoreFields: []string{"$.generated_at", "$.request_id"}, CompareHeaders: []string{"content-type"}},
		},
	})
	r := send(t, "GET", "http://"+e.addr+"/api/users", nil, "")
	if r.status != 200 || !strings.Contains(r.body, "Edsger Dijkstra") {
		t.Fatalf("GET /api/users = %d %q, want the monolith's answer", r.status, r.body)
	}
	r = send(t, "GET", "http://"+e.addr+"/hello", nil, "")
	if r.status != 200 || r.body != "Hello from the monolith\n" {
		t.Fatalf("GET /hello = %d %q, want the monolith's answer", r.status, r.body)
	}
	e.waitMirror(t, 2)

	st, _ := e.srv.RouteStats("users")
	if st.ShadowCompared != 1 || st.ShadowMismatches != 1 || len(st.Mismatches) != 1 {
		t.Fatalf("RouteStats(users) = %+v, want 1 comparison, 1 mismatch", st)
	}
	m := st.Mismatches[0]
	want := Mismatch{Time: m.Time, Method: "GET", Path: "/api/users", Field: "body:$.users[2].email",
		Legacy: `"edsger@example.com"`, Isolate: `"alan@example.com"`}
	if m != want {
		t.Errorf("mismatch = %+v, want %+v", m, want)
	}
	if st.Isolate.Requests != 1 || st.Legacy.Requests != 1 {
		t.Errorf("RouteStats(users) requests = legacy %d isolate %d, want 1 and 1", st.Legacy.Requests, st.Isolate.Requests)
	}
	// Different text bodies compare as bytes.
	st, _ = e.srv.RouteStats("hello")
	if st.ShadowMismatches != 1 || st.Mismatches[0].Field != "body:" || st.Mismatches[0].Isolate != "Hello from C\n" {
		t.Errorf("RouteStats(hello) = %+v, want a body mismatch", st)
	}

	// Ignoring the differing user makes the two agree.
	e.srv.Swap(&World{
		Upstreams: map[string]*proxy.Upstream{"mono": upstreamFor(t, mono)},
		Functions: map[string]*isolate.Function{"api": api, "hello": hello},
		Routes: map[string]RouteOptions{
			"users": {IgnoreFields: []string{"$.generated_at", "$.request_id", "$.users[2]"}},
		},
	})
	send(t, "GET", "http://"+e.addr+"/api/users", nil, "")
	e.waitMirror(t, 1)
	if st, _ = e.srv.RouteStats("users"); st.ShadowCompared != 2 || st.ShadowMismatches != 1 {
		t.Errorf("RouteStats(users) = %+v, want the second comparison to match", st)
	}
}

func TestShadowNeverDelays(t *testing.T) {
	mono := upstreamtest.StartMonolith(t)
	const spin = 2 * time.Second
	loop := loadFunction(t, guestLoop, isolate.FunctionOptions{Policy: limits.Policy{Timeout: spin}})
	e := startEdge(t, []strangler.Route{
		{Name: "hello", Path: "/hello", Function: "loop", Upstream: "mono", Stage: strangler.StageShadow},
		{Name: "orders", Path: "/api/orders", Function: "loop", Upstream: "mono", Stage: strangler.StageShadow},
		{Name: "orders-all", Path: "/api/orders/all", Function: "loop", Upstream: "mono", Stage: strangler.StageShadow, MirrorUnsafe: true},
	}, &World{
		Upstreams: map[string]*proxy.Upstream{"mono": upstreamFor(t, mono)},
		Functions: map[string]*isolate.Function{"loop": loop},
		Routes:    map[string]RouteOptions{"hello": {ShadowMaxConcurrent: 1}},
	})
	start := time.Now()
	for range 3 {
		r := send(t, "GET", "http://"+e.addr+"/hello", nil, "")
		if r.status != 200 || r.body != "Hello from the monolith\n" {
			t.Fatalf("GET /hello = %d %q, want the monolith's answer", r.status, r.body)
		}
	}
	if d := time.Since(start); d >= spin/2 {
		t.Errorf("3 shadowed requests took %v while the mirror spins for %v: the mirror delayed them", d, spin)
	}
	rs := e.srv.state("hello")
	if got := rs.shadowInFlight.Load(); got != 1 {
		t.Errorf("mirrors in flight = %d, want 1 (the semaphore holds one)", got)
	}
	if got := rs.skipped.Load(); got != 2 {
		t.Errorf("skipped mirrors = %d, want 2", got)
	}

	// Unsafe methods are not mirrored unless the route says so.
	r := send(t, "POST", "http://"+e.addr+"/api/orders", nil, `{"item":"x","qty":1}`)
	if r.status != 201 {
		t.Errorf("POST /api/orders = %d %q, want 201", r.status, r.body)
	}
	if got := e.srv.state("orders").shadowInFlight.Load(); got != 0 {
		t.Errorf("POST mirrored on a route without MirrorUnsafe: %d in flight", got)
	}
	r = send(t, "POST", "http://"+e.addr+"/api/orders/all", nil, `{}`)
	if got := e.srv.state("orders-all").shadowInFlight.Load(); got != 1 {
		t.Errorf("POST on a MirrorUnsafe route: %d mirrors in flight, want 1 (answer %d)", got, r.status)
	}
	e.waitMirror(t, 2)
	st, _ := e.srv.RouteStats("hello")
	if st.ShadowCompared != 1 || st.ShadowMismatches != 1 || st.Isolate.LimitBreaches != 1 ||
		st.Mismatches[0].Field != "status" || st.Mismatches[0].Isolate != "504" {
		t.Errorf("RouteStats(hello) = %+v, want a status mismatch against the 504 of the deadline", st)
	}
}

func TestCompareResponsesRedacts(t *testing.T) {
	var legacy fasthttp.Response
	legacy.SetStatusCode(200)
	legacy.Header.Set("Set-Cookie", "sid=legacy-secret")
	var iso isolate.Response
	iso.Reset()
	iso.Header.SetString("Set-Cookie", "sid=isolate-secret")
	opts := mustCompileOpts(RouteOptions{CompareHeaders: []string{"Set-Cookie"}})
	field, lv, iv, same := compareResponses(&legacy, &iso, opts, false, nil)
	if same || field != "header:Set-Cookie" || lv != "[redacted]" || iv != "[redacted]" {
		t.Errorf("compareResponses = %q %q %q %v, want a redacted Set-Cookie mismatch", field, lv, iv, same)
	}
}
