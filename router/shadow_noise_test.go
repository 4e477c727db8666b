package router

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/shadow"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

// TestNoiseBaseline runs the example monolith against the jsonapi guest: both answer
// GET /api/users with a fresh generated_at and request_id per call, and the guest's
// third user differs from the monolith's.
func TestNoiseBaseline(t *testing.T) {
	mono := upstreamtest.StartMonolith(t)
	api := loadFunction(t, guestJSONAPI, isolate.FunctionOptions{})
	routes := []strangler.Route{
		{Name: "users", Path: "/api/users", Methods: []string{"GET"}, Function: "api", Upstream: "mono", Stage: strangler.StageShadow},
	}
	world := func(up *proxy.Upstream, o RouteOptions) *World {
		return &World{
			Upstreams: map[string]*proxy.Upstream{"mono": up},
			Functions: map[string]*isolate.Function{"api": api},
			Routes:    map[string]RouteOptions{"users": o},
		}
	}
	// "$.users[2]" hides the one real difference, so only the volatile fields remain.
	sameUsers := []string{"$.users[2]"}
	up := upstreamFor(t, mono)
	e := startEdge(t, routes, world(up, RouteOptions{IgnoreFields: sameUsers, NoiseSample: -1}))
	get := func(wantLegacyHits int64) RouteStats {
		t.Helper()
		before := up.Stats().Requests
		if r := send(t, "GET", "http://"+e.addr+"/api/users", nil, ""); r.status != 200 {
			t.Fatalf("GET /api/users = %d %q, want 200", r.status, r.body)
		}
		e.waitMirror(t, 1)
		if got := up.Stats().Requests - before; got != wantLegacyHits {
			t.Errorf("legacy requests for one GET = %d, want %d", got, wantLegacyHits)
		}
		st, _ := e.srv.RouteStats("users")
		return st
	}

	// Without the baseline the volatile fields are mismatches.
	st := get(1)
	if st.ShadowMismatches != 1 || st.Mismatches[0].Field != "body:$.generated_at" || len(st.Noise) != 0 {
		t.Fatalf("RouteStats(users) without baseline = %+v, want a mismatch at $.generated_at and no noise", st)
	}

	// With it, legacy is asked twice, learns both fields and the comparison matches.
	up = upstreamFor(t, mono)
	e.srv.Swap(world(up, RouteOptions{IgnoreFields: sameUsers, NoiseSample: 1}))
	st = get(2)
	if want := []string{"$.generated_at", "$.request_id"}; !slices.Equal(st.Noise, want) {
		t.Errorf("RouteStats(users).Noise = %q, want %q", st.Noise, want)
	}
	if st.ShadowCompared != 2 || st.ShadowMismatches != 1 {
		t.Errorf("RouteStats(users) = %+v, want the comparison with the baseline to match", st)
	}

	// What was learnt stays learnt once the baseline is off: the same request matches
	// and legacy is asked once.
	e.srv.Swap(world(up, RouteOptions{IgnoreFields: sameUsers, NoiseSample: -1}))
	if st = get(1); st.ShadowCompared != 3 || st.ShadowMismatches != 1 {
		t.Errorf("RouteStats(users) = %+v, want the third comparison to match on learnt noise", st)
	}

	// A real difference is still a mismatch: the comparer steps over the noisy
	// generated_at and request_id and finds the third user's email.
	e.srv.Swap(world(up, RouteOptions{NoiseSample: -1}))
	st = get(1)
	if st.ShadowMismatches != 2 {
		t.Fatalf("RouteStats(users) = %+v, want the real difference to mismatch", st)
	}
	m := st.Mismatches[len(st.Mismatches)-1]
	if m.Field != "body:$.users[2].email" || m.Legacy != `"edsger@example.com"` || m.Isolate != `"alan@example.com"` {
		t.Errorf("mismatch = %+v, want body:$.users[2].email edsger vs alan", m)
	}
}

// TestNoiseNeverUnsafe checks that a POST on a MirrorUnsafe route reaches legacy once,
// while a GET on the same kind of route with the same options reaches it twice.
func TestNoiseNeverUnsafe(t *testing.T) {
	mono := upstreamtest.StartMonolith(t)
	api := loadFunction(t, guestJSONAPI, isolate.FunctionOptions{})
	postUp, getUp := upstreamFor(t, mono), upstreamFor(t, mono)
	e := startEdge(t, []strangler.Route{
		{Name: "orders", Path: "/api/orders", Function: "api", Upstream: "post", Stage: strangler.StageShadow, MirrorUnsafe: true},
		{Name: "users", Path: "/api/users", Function: "api", Upstream: "get", Stage: strangler.StageShadow, MirrorUnsafe: true},
	}, &World{
		Upstreams: map[string]*proxy.Upstream{"post": postUp, "get": getUp},
		Functions: map[string]*isolate.Function{"api": api},
		Routes:    map[string]RouteOptions{"orders": {NoiseSample: 1}, "users": {NoiseSample: 1}},
	})
	for range 3 {
		if r := send(t, "POST", "http://"+e.addr+"/api/orders", nil, `{"item":"x","qty":1}`); r.status != 201 {
			t.Fatalf("POST /api/orders = %d %q, want 201", r.status, r.body)
		}
	}
	send(t, "GET", "http://"+e.addr+"/api/users", nil, "")
	e.waitMirror(t, 4)
	if got := postUp.Stats().Requests; got != 3 {
		t.Errorf("legacy requests for 3 mirrored POSTs = %d, want 3 (never sent twice)", got)
	}
	if st, _ := e.srv.RouteStats("orders"); st.ShadowCompared != 3 || len(st.Noise) != 0 {
		t.Errorf("RouteStats(orders) = %+v, want 3 comparisons and no noise", st)
	}
	if got := getUp.Stats().Requests; got != 2 {
		t.Errorf("legacy requests for 1 mirrored GET = %d, want 2", got)
	}
}

// TestNoiseHeadersAndBytes uses a legacy whose X-Request-Id header and text body
// change per call: both are learnt, and the probe carries the X-Forwarded-* fields of
// the first request.
func TestNoiseHeadersAndBytes(t *testing.T) {
	var (
		calls atomic.Int64
		mu    sync.Mutex
		fwd   []string
	)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		mu.Lock()
		fwd = append(fwd, r.Header.Get("X-Forwarded-For")+"|"+r.Header.Get("X-Forwarded-Proto")+"|"+
			r.Header.Get("X-Forwarded-Host")+"|"+r.Header.Get("X-Test"))
		mu.Unlock()
		w.Header().Set("X-Request-Id", strconv.FormatInt(n, 10))
		fmt.Fprintf(w, "call %d\n", n)
	}))
	t.Cleanup(legacy.Close)
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{})
	e := startEdge(t, []strangler.Route{
		{Name: "hello", Path: "/hello", Function: "hello", Upstream: "legacy", Stage: strangler.StageShadow},
	}, &World{
		Upstreams: map[string]*proxy.Upstream{"legacy": upstreamFor(t, strings.TrimPrefix(legacy.URL, "http://"))},
		Functions: map[string]*isolate.Function{"hello": hello},
		Routes:    map[string]RouteOptions{"hello": {CompareHeaders: []string{"X-Request-Id"}, NoiseSample: 1}},
	})
	r := send(t, "GET", "http://"+e.addr+"/hello", map[string]string{"X-Test": "t1", "X-Forwarded-For": "203.0.113.9"}, "")
	if r.body != "call 1\n" {
		t.Fatalf("GET /hello = %q, want legacy's first answer", r.body)
	}
	e.waitMirror(t, 1)
	st, _ := e.srv.RouteStats("hello")
	if want := []string{"body", "header:x-request-id"}; !slices.Equal(st.Noise, want) {
		t.Errorf("RouteStats(hello).Noise = %q, want %q", st.Noise, want)
	}
	if st.ShadowCompared != 1 || st.ShadowMismatches != 0 {
		t.Errorf("RouteStats(hello) = %+v, want a match: header and body are noise", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fwd) != 2 || fwd[0] != fwd[1] {
		t.Errorf("legacy saw X-Forwarded-For|Proto|Host|X-Test = %q, want the same twice", fwd)
	} else if !strings.HasSuffix(fwd[0], "|http|"+e.addr+"|t1") {
		t.Errorf("legacy saw X-Forwarded-For|Proto|Host|X-Test = %q, want http, %s and t1", fwd[0], e.addr)
	}
}

func TestCompareResponsesNoise(t *testing.T) {
	var noise shadow.Noise
	noise.Observe([]string{"header:x-request-id", "$.items[*].seen", "$.generated_at", "body"})
	opts := mustCompileOpts(RouteOptions{CompareHeaders: []string{"X-Request-ID", "ETag"}})
	tests := []struct {
		name          string
		lStatus       int
		lHdr, iHdr    [2]string // X-Request-ID, ETag
		lBody, iBody  string
		noise         *shadow.Noise
		wantField     string
		wantLegacyVal string
	}{
		{"status is never noise", 200, [2]string{}, [2]string{}, "{}", "{}", &noise, "status", "200"},
		{"noisy header", 201, [2]string{"a", "x"}, [2]string{"b", "x"}, "{}", "{}", &noise, "", ""},
		{"noisy header without the set", 201, [2]string{"a", "x"}, [2]string{"b", "x"}, "{}", "{}", nil, "header:X-Request-ID", "a"},
		{"other header after a noisy one", 201, [2]string{"a", "x"}, [2]string{"b", "y"}, "{}", "{}", &noise, "header:ETag", "x"},
		{"noisy paths skipped", 201, [2]string{}, [2]string{},
			`{"generated_at":"1","items":[{"id":1,"seen":"a"},{"id":2,"seen":"b"}]}`,
			`{"generated_at":"2","items":[{"id":1,"seen":"c"},{"id":2,"seen":"d"}]}`, &noise, "", ""},
		{"real difference after noise", 201, [2]string{}, [2]string{},
			`{"generated_at":"1","items":[{"id":1,"seen":"a"},{"id":2,"seen":"b"}]}`,
			`{"generated_at":"2","items":[{"id":1,"seen":"c"},{"id":3,"seen":"d"}]}`, &noise, "body:$.items[1].id", "2"},
		{"noise does not cover a missing element", 201, [2]string{}, [2]string{},
			`{"items":[{"seen":"a"}]}`, `{"items":[{"seen":"b"},{"seen":"c"}]}`, &noise, "body:$.items[1]", "(missing)"},
		{"noisy bytes", 201, [2]string{}, [2]string{}, "call 1", "call 2", &noise, "", ""},
		{"JSON legacy is not byte noise", 201, [2]string{}, [2]string{}, "{}", "call 2", &noise, "body:", "{}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var legacy fasthttp.Response
			legacy.SetStatusCode(tc.lStatus)
			legacy.SetBodyString(tc.lBody)
			var iso isolate.Response
			iso.Reset()
			iso.Status = 201
			iso.Body = append(iso.Body, tc.iBody...)
			for i, name := range []string{"X-Request-Id", "Etag"} {
				if tc.lHdr[i] != "" {
					legacy.Header.Set(name, tc.lHdr[i])
				}
				if tc.iHdr[i] != "" {
					iso.Header.SetString(name, tc.iHdr[i])
				}
			}
			field, lv, _, same := compareResponses(&legacy, &iso, opts, false, tc.noise)
			if field != tc.wantField || lv != tc.wantLegacyVal || same != (tc.wantField == "") {
				t.Errorf("compareResponses = %q %q %v, want %q %q", field, lv, same, tc.wantField, tc.wantLegacyVal)
			}
		})
	}
}

func TestNoiseSampleDefault(t *testing.T) {
	if o := mustCompileOpts(RouteOptions{}); o.NoiseSample != DefaultNoiseSample {
		t.Errorf("compileOpts(zero).NoiseSample = %v, want %v", o.NoiseSample, DefaultNoiseSample)
	}
}
