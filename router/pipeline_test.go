package router

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

func TestLegacyStage(t *testing.T) {
	mono := upstreamtest.StartMonolith(t)
	e := startEdge(t, []strangler.Route{
		{Name: "hello", Path: "/hello", Upstream: "mono", Stage: strangler.StageLegacy},
		{Name: "users", Path: "/api/users", Methods: []string{"GET"}, Upstream: "mono"},
	}, &World{Upstreams: map[string]*proxy.Upstream{"mono": upstreamFor(t, mono)}})

	tests := []struct {
		name, method, path string
		want               int
		body               string
	}{
		{"match", "GET", "/hello", 200, "Hello from the monolith\n"},
		// Matched on the normalised path; the monolith gets the raw target and redirects.
		{"dot segments normalised", "GET", "/x/../hello", 307, "<a href=\"/hello\">Temporary Redirect</a>.\n\n"},
		{"no route", "GET", "/nope", 404, "Not Found\n"},
		{"method not routed", "POST", "/api/users", 404, "Not Found\n"},
		{"bad escape", "GET", "/hello%zz", 400, "Bad Request\n"},
		{"encoded NUL", "GET", "/hello/%00", 400, "Bad Request\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A raw client: net/http would refuse or clean some of these targets.
			resp := upstreamtest.Dial(t, e.addr).Do(t, tc.method+" "+tc.path+" HTTP/1.1\r\nHost: edge\r\nContent-Length: 0\r\n\r\n")
			if got, body := resp.StatusCode(), string(resp.Body()); got != tc.want || body != tc.body {
				t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.path, got, body, tc.want, tc.body)
			}
		})
	}
	st, ok := e.srv.RouteStats("hello")
	if !ok || st.Legacy.Requests != 2 || st.Isolate.Requests != 0 || st.Legacy.P50 == 0 {
		t.Errorf("RouteStats(hello) = %+v, %v; want 2 legacy requests with a latency", st, ok)
	}
}

func TestIsolateStage(t *testing.T) {
	mono := upstreamtest.StartMonolith(t)
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{})
	next := loadFunction(t, guestNext, isolate.FunctionOptions{})
	e := startEdge(t, []strangler.Route{
		{Name: "fast", Path: "/fast", Function: "hello", Stage: strangler.StageRetired},
		{Name: "iso", Path: "/iso", Function: "hello", Upstream: "mono", Stage: strangler.StageIsolate},
		{Name: "mw", Path: "/debug", Function: "next", Upstream: "mono", Stage: strangler.StageIsolate},
		{Name: "orphan", Path: "/orphan", Function: "next", Stage: strangler.StageRetired},
		{Name: "ghost", Path: "/ghost", Function: "missing", Stage: strangler.StageRetired},
	}, &World{
		Upstreams: map[string]*proxy.Upstream{"mono": upstreamFor(t, mono)},
		Functions: map[string]*isolate.Function{"hello": hello, "next": next},
	})
	base := "http://" + e.addr

	t.Run("endpoint", func(t *testing.T) {
		r := send(t, "GET", base+"/fast/x", nil, "")
		if r.status != 200 || r.body != "Hello from C\n" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Errorf("GET /fast/x = %d %q %v, want 200 %q text/plain", r.status, r.body, r.header, "Hello from C\n")
		}
	})
	t.Run("request body", func(t *testing.T) {
		r := send(t, "POST", base+"/fast/echo", nil, "ping-pong")
		if r.status != 200 || r.body != "ping-pong" {
			t.Errorf("POST /fast/echo = %d %q, want 200 %q", r.status, r.body, "ping-pong")
		}
	})
	t.Run("next to upstream", func(t *testing.T) {
		// next.wasm rewrites the request to PUT /rewritten?by=next (the monolith has no
		// such endpoint) and wraps whatever the upstream answers.
		r := send(t, "GET", base+"/debug/x", map[string]string{"X-Drop": "1"}, "")
		if r.status != 203 || !strings.HasPrefix(r.body, "wrapped:") || r.header.Get("X-Upstream-Status") != "404" {
			t.Errorf("GET /debug/x = %d %q %v, want 203, wrapped:..., X-Upstream-Status 404", r.status, r.body, r.header)
		}
	})
	t.Run("next without upstream", func(t *testing.T) {
		if r := send(t, "GET", base+"/orphan", nil, ""); r.status != 502 {
			t.Errorf("GET /orphan = %d %q, want 502", r.status, r.body)
		}
	})
	t.Run("function not in world", func(t *testing.T) {
		if r := send(t, "GET", base+"/ghost", nil, ""); r.status != 502 {
			t.Errorf("GET /ghost = %d %q, want 502", r.status, r.body)
		}
	})
	if st, _ := e.srv.RouteStats("fast"); st.Isolate.Requests != 2 || st.Legacy.Requests != 0 {
		t.Errorf("RouteStats(fast) = %+v, want 2 isolate requests", st)
	}
}

func TestIsolateMiddlewareWithSecret(t *testing.T) {
	mono := upstreamtest.StartMonolith(t)
	auth := loadFunction(t, guestAuthMW, isolate.FunctionOptions{Secrets: map[string][]byte{"api_token": []byte("s3cret")}})
	e := startEdge(t, []strangler.Route{
		{Name: "account", Path: "/account", Function: "auth", Upstream: "mono", Stage: strangler.StageIsolate},
	}, &World{
		Upstreams: map[string]*proxy.Upstream{"mono": upstreamFor(t, mono)},
		Functions: map[string]*isolate.Function{"auth": auth},
	})
	r := send(t, "GET", "http://"+e.addr+"/account", map[string]string{"Authorization": "Bearer s3cret"}, "")
	if r.status != 200 || !strings.Contains(r.body, `"user":"demo"`) || r.header.Get("X-Auth") != "edged" {
		t.Errorf("GET /account with token = %d %q %v, want 200 user demo, X-Auth: edged", r.status, r.body, r.header)
	}
	r = send(t, "GET", "http://"+e.addr+"/account", map[string]string{"Authorization": "Bearer nope"}, "")
	if r.status != 401 {
		t.Errorf("GET /account with a wrong token = %d %q, want 401", r.status, r.body)
	}
}

func TestIsolateFallback(t *testing.T) {
	mono := upstreamtest.StartMonolith(t)
	trap := loadFunction(t, guestTrap, isolate.FunctionOptions{})
	loop := loadFunction(t, guestLoop, isolate.FunctionOptions{Policy: limits.Policy{Timeout: 50 * time.Millisecond}})
	up := upstreamFor(t, mono)
	e := startEdge(t, []strangler.Route{
		{Name: "trap", Path: "/hello", Function: "trap", Upstream: "mono", Stage: strangler.StageIsolate},
		{Name: "nofb", Path: "/api/users", Function: "trap", Upstream: "mono", Stage: strangler.StageIsolate},
		{Name: "loop", Path: "/healthz", Function: "loop", Upstream: "mono", Stage: strangler.StageIsolate},
		{Name: "retired", Path: "/slow", Function: "trap", Upstream: "mono", Stage: strangler.StageRetired},
	}, &World{
		Upstreams: map[string]*proxy.Upstream{"mono": up},
		Functions: map[string]*isolate.Function{"trap": trap, "loop": loop},
		Routes:    map[string]RouteOptions{"trap": {Fallback: true}, "loop": {Fallback: true}, "nofb": {Fallback: false}},
	})
	base := "http://" + e.addr
	tests := []struct {
		name, method, path string
		want               int
		route              string
		fallbacks          uint64
	}{
		{"trap GET falls back", "GET", "/hello", 200, "trap", 1},
		{"trap POST does not", "POST", "/hello", 502, "trap", 1},
		{"fallback off", "GET", "/api/users", 502, "nofb", 0},
		{"deadline GET falls back", "GET", "/healthz", 200, "loop", 1},
		{"retired never falls back", "GET", "/slow?ms=1", 502, "retired", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, tc.method, base+tc.path, nil, "")
			if r.status != tc.want {
				t.Errorf("%s %s = %d %q, want %d", tc.method, tc.path, r.status, r.body, tc.want)
			}
			st, _ := e.srv.RouteStats(tc.route)
			if st.Isolate.Fallbacks != tc.fallbacks {
				t.Errorf("RouteStats(%q).Isolate.Fallbacks = %d, want %d", tc.route, st.Isolate.Fallbacks, tc.fallbacks)
			}
		})
	}
	st, _ := e.srv.RouteStats("loop")
	if st.Isolate.LimitBreaches != 1 || st.Isolate.Errors5xx != 1 || st.Legacy.Requests != 1 {
		t.Errorf("RouteStats(loop) = %+v, want 1 breach, 1 isolate 5xx, 1 legacy request", st)
	}
}

func TestCanaryStickyBuckets(t *testing.T) {
	const n = 2000
	for _, w := range []int{1, 10, 25, 50, 90} {
		t.Run(fmt.Sprintf("weight %d", w), func(t *testing.T) {
			hits := 0
			for i := range n {
				if stickyBucket("route", fmt.Appendf(nil, "user-%d", i)) < w {
					hits++
				}
			}
			got := float64(hits) / n * 100
			if got < float64(w)-3 || got > float64(w)+3 {
				t.Errorf("share at weight %d = %.1f%%, want within 3 points", w, got)
			}
		})
	}
	t.Run("monotonic", func(t *testing.T) {
		for i := range n {
			key := fmt.Appendf(nil, "user-%d", i)
			if b := stickyBucket("route", key); b < 10 && !(b < 50) {
				t.Fatalf("key %q in the canary at 10%% but not at 50%%", key)
			}
		}
	})
}

func TestCanaryStage(t *testing.T) {
	mono := upstreamtest.StartMonolith(t)
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{})
	e := startEdge(t, []strangler.Route{
		{Name: "hello", Path: "/hello", Function: "hello", Upstream: "mono", Stage: strangler.StageCanary,
			Weight: 10, Sticky: "header:X-User"},
	}, &World{
		Upstreams: map[string]*proxy.Upstream{"mono": upstreamFor(t, mono)},
		Functions: map[string]*isolate.Function{"hello": hello},
	})
	const users = 200
	side := func(user int) string {
		r := send(t, "GET", "http://"+e.addr+"/hello", map[string]string{"X-User": fmt.Sprint("u", user)}, "")
		switch r.body {
		case "Hello from C\n":
			return "isolate"
		case "Hello from the monolith\n":
			return "legacy"
		}
		t.Fatalf("GET /hello = %d %q, want one of the two hellos", r.status, r.body)
		return ""
	}
	at10 := map[int]bool{}
	for u := range users {
		if side(u) == "isolate" {
			at10[u] = true
		}
		if u%50 == 0 && side(u) != map[bool]string{true: "isolate", false: "legacy"}[at10[u]] {
			t.Errorf("user %d changed sides between two requests at one weight", u)
		}
	}
	if len(at10) == 0 || len(at10) > users/4 {
		t.Errorf("%d of %d users on the isolate at weight 10, want about 20", len(at10), users)
	}
	if _, err := e.table.Update("hello", strangler.Event{Kind: strangler.KindSetWeight}, func(r *strangler.Route) error {
		r.Weight = 50
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	at50 := 0
	for u := range users {
		s := side(u)
		if at10[u] && s != "isolate" {
			t.Errorf("user %d was on the isolate at weight 10 but not at 50", u)
		}
		if s == "isolate" {
			at50++
		}
	}
	if at50 < users/3 || at50 > users*2/3 {
		t.Errorf("%d of %d users on the isolate at weight 50, want about half", at50, users)
	}
}

func TestStatusFor(t *testing.T) {
	ie := func(kind error, phase string) error {
		return &isolate.InvokeError{Function: "f", Phase: phase, Kind: kind}
	}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 200},
		{"deadline", ie(isolate.ErrDeadline, "handle_request"), 504},
		{"pool", ie(isolate.ErrPoolExhausted, "acquire"), 503},
		{"trap", ie(isolate.ErrTrap, "handle_request"), 502},
		{"memory", ie(isolate.ErrMemoryLimit, "handle_request"), 502},
		{"response body", ie(isolate.ErrBodyTooLarge, "handle_request"), 502},
		{"request body", ie(isolate.ErrBodyTooLarge, "read_request"), 413},
		{"no next", isolate.ErrNoNext, 502},
		{"closed", isolate.ErrClosed, 503},
		{"upstream timeout", fmt.Errorf("upstream %q: %w", "m", proxy.ErrUpstreamTimeout), 504},
		{"upstream pool", fmt.Errorf("upstream %q: %w", "m", proxy.ErrPoolTimeout), 503},
		{"upstream down", fmt.Errorf("upstream %q: %w", "m", proxy.ErrUpstreamUnavailable), 502},
		{"upstream body", proxy.ErrUpstreamBodyTooLarge, 502},
		{"no target", errNoTarget, 502},
		{"other", errors.New("boom"), 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusFor(tc.err); got != tc.want {
				t.Errorf("statusFor(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestSwapKeepsWorlds(t *testing.T) {
	mono := upstreamtest.StartMonolith(t)
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{})
	trap := loadFunction(t, guestTrap, isolate.FunctionOptions{})
	w1 := &World{Functions: map[string]*isolate.Function{"f": hello}, Upstreams: map[string]*proxy.Upstream{"mono": upstreamFor(t, mono)}}
	e := startEdge(t, []strangler.Route{
		{Name: "r", Path: "/", Function: "f", Stage: strangler.StageRetired},
	}, w1)
	if r := send(t, "GET", "http://"+e.addr+"/", nil, ""); r.status != 200 {
		t.Fatalf("GET / = %d, want 200", r.status)
	}
	w2 := &World{Functions: map[string]*isolate.Function{"f": trap}}
	if old, err := e.srv.Swap(w2); old != w1 || err != nil {
		t.Errorf("Swap() = %p, %v; want the first world %p", old, err, w1)
	}
	if r := send(t, "GET", "http://"+e.addr+"/", nil, ""); r.status != 502 {
		t.Errorf("GET / after Swap = %d, want 502 from the trapping guest", r.status)
	}
	if old, err := e.srv.Swap(&World{Routes: map[string]RouteOptions{"r": {IgnoreFields: []string{"$..x"}}}}); old != nil || err == nil {
		t.Errorf("Swap(bad ignore path) = %p, %v; want nil, an error and the world kept", old, err)
	}
	if r := send(t, "GET", "http://"+e.addr+"/", nil, ""); r.status != 502 {
		t.Errorf("GET / after a refused Swap = %d, want 502 from the world kept", r.status)
	}
}

func TestShutdownDrains(t *testing.T) {
	mono := upstreamtest.StartMonolith(t)
	table, err := strangler.NewTable([]strangler.Route{{Name: "slow", Path: "/slow", Upstream: "mono", Step: -1}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{Table: table}, &World{Upstreams: map[string]*proxy.Upstream{"mono": upstreamFor(t, mono)}})
	if err != nil {
		t.Fatal(err)
	}
	ln := upstreamtest.Listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	rc := upstreamtest.Dial(t, ln.Addr().String())
	if _, err := rc.Conn.Write([]byte("GET /slow?ms=300 HTTP/1.1\r\nHost: edge\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// The request is in flight once the upstream has started it.
	up := srv.world.Load().w.Upstreams["mono"]
	for up.Stats().Requests == 0 {
		runtime.Gosched()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown() = %v, want nil after draining", err)
	}
	resp := &fasthttp.Response{}
	if err := resp.Read(rc.R); err != nil || resp.StatusCode() != 200 {
		t.Errorf("in-flight request during Shutdown = %d, %v; want 200", resp.StatusCode(), err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve() = %v, want nil after Shutdown", err)
	}
}

// TestSwapHammer swaps Worlds while requests run; under -race it checks that a
// request only ever sees one whole World and that pooled exchanges are not shared.
func TestSwapHammer(t *testing.T) {
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{})
	table, err := strangler.NewTable([]strangler.Route{
		{Name: "r", Path: "/", Function: "f", Stage: strangler.StageRetired, Step: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	worlds := []*World{
		{Functions: map[string]*isolate.Function{"f": hello}},
		{Functions: map[string]*isolate.Function{"f": hello}, Routes: map[string]RouteOptions{"r": {Fallback: true}}},
	}
	srv, err := NewServer(Config{Table: table}, worlds[0])
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served atomic.Int64
	var failed atomic.Bool
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := newCtx("POST", "/fast/echo")
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf("g%d-%d", g, i)
				ctx.Request.SetBodyString(body)
				ctx.Response.Reset()
				srv.Handler(ctx)
				if got := string(ctx.Response.Body()); ctx.Response.StatusCode() != 200 || got != body {
					t.Errorf("POST /fast/echo %q = %d %q", body, ctx.Response.StatusCode(), got)
					failed.Store(true)
					return
				}
				served.Add(1)
			}
		}()
	}
	// At least 200 swaps, and as many as it takes for requests to run
	// across them: a loaded machine may not schedule the servers at first.
	for i := 0; (i < 200 || served.Load() < 200) && !failed.Load(); i++ {
		if _, err := srv.Swap(worlds[i%2]); err != nil {
			t.Fatal(err)
		}
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	if st, _ := srv.RouteStats("r"); st.Isolate.Requests == 0 || st.Isolate.Errors5xx != 0 {
		t.Errorf("RouteStats(r) = %+v, want requests and no errors", st)
	}
}
