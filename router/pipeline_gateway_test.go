package router

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged/edged/auth"
	"github.com/edged/edged/idempotency"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

// authFixture holds the credentials the router's gateway tests present: an API
// key of "svc-a" with the scope orders:read, and an ES256 key (kid "ec-1")
// for bearer tokens. The auth package tests the credentials themselves; these
// tests only need the gateway to see a valid and an invalid one.
type authFixture struct {
	apiKey string
	ecKey  *ecdsa.PrivateKey
	opts   auth.Options
}

func newAuthFixture(t testing.TB) *authFixture {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	f := &authFixture{apiKey: "edk_test_key_one_AAAAAAAAAAAAAAAAAAAAAAAA", ecKey: ec}
	line, err := auth.KeyLine(f.apiKey, "svc-a", "orders:read")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.opts = auth.Options{
		APIKeyFile: write("apikeys.txt", line+"\n"),
		JWTKeyFile: write("keys.pem", string(pem.EncodeToMemory(&pem.Block{
			Type: "PUBLIC KEY", Headers: map[string]string{"kid": "ec-1"}, Bytes: der}))),
		Issuer: "https://issuer.test", Audience: "edged-api",
	}
	return f
}

// token returns an ES256 token of f's key for subject "user-42" with the scope
// orders:read, valid for an hour.
func (f *authFixture) token(t testing.TB) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": "https://issuer.test", "aud": "edged-api", "sub": "user-42",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Add(-time.Minute).Unix(), "scope": "orders:read",
	})
	tok.Header["kid"] = "ec-1"
	s, err := tok.SignedString(f.ecKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// identity returns the request's headers under prefix, lower-cased name -> values.
func identity(ctx *fasthttp.RequestCtx, prefix string) map[string][]string {
	out := map[string][]string{}
	for k, v := range ctx.Request.Header.All() {
		if name := strings.ToLower(string(k)); strings.HasPrefix(name, strings.ToLower(prefix)) {
			out[name] = append(out[name], string(v))
		}
	}
	return out
}

// gatewayServer serves three legacy routes whose upstream is missing, so a request
// that passes the gateway answers 502: "private" requires auth, "open" does not,
// "limited" allows one request per second per client.
func gatewayServer(t *testing.T) (*Server, *authFixture) {
	t.Helper()
	f := newAuthFixture(t)
	a, err := auth.New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	lim, err := limits.NewLimiter(limits.LimiterOptions{Rate: limits.Rate{Events: 1, Per: time.Second}, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	table, err := strangler.NewTable([]strangler.Route{
		{Name: "private", Path: "/private", Upstream: "gone", Step: -1},
		{Name: "open", Path: "/open", Upstream: "gone", Step: -1},
		{Name: "limited", Path: "/limited", Upstream: "gone", Step: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(Config{Table: table}, &World{Auth: a, Routes: map[string]RouteOptions{
		"private": {RequireAuth: true},
		"limited": {RateLimit: lim},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

func TestGatewayHandler(t *testing.T) {
	s, f := gatewayServer(t)
	tests := []struct {
		name, uri  string
		hdr        []string
		wantStatus int
		wantHeader string // a response header that must be set
		wantSub    string // X-Edged-Auth-Sub left on the request
	}{
		{name: "no credential", uri: "/private", wantStatus: 401, wantHeader: "WWW-Authenticate"},
		{name: "forged identity alone", uri: "/private", hdr: []string{"X-Edged-Auth-Sub", "mallory"},
			wantStatus: 401, wantHeader: "WWW-Authenticate"},
		{name: "api key", uri: "/private", hdr: []string{"X-API-Key", f.apiKey, "x-edged-auth-sub", "mallory"},
			wantStatus: 502, wantSub: "svc-a"},
		{name: "open route strips forged identity", uri: "/open", hdr: []string{"X-Edged-Auth-Sub", "mallory"},
			wantStatus: 502},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newCtx("GET", tc.uri)
			ctx.Request.Header.DisableNormalizing()
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				ctx.Request.Header.Add(tc.hdr[i], tc.hdr[i+1])
			}
			s.Handler(ctx)
			if got := ctx.Response.StatusCode(); got != tc.wantStatus {
				t.Errorf("Handler(%q) status = %d, want %d", tc.uri, got, tc.wantStatus)
			}
			if tc.wantHeader != "" && len(ctx.Response.Header.Peek(tc.wantHeader)) == 0 {
				t.Errorf("Handler(%q) lacks response header %s", tc.uri, tc.wantHeader)
			}
			subs := identity(ctx, auth.DefaultHeaderPrefix)["x-edged-auth-sub"]
			if tc.wantSub == "" && len(subs) > 0 {
				t.Errorf("Handler(%q) left X-Edged-Auth-Sub = %q, want none", tc.uri, subs)
			}
			if tc.wantSub != "" && (len(subs) != 1 || subs[0] != tc.wantSub) {
				t.Errorf("Handler(%q) X-Edged-Auth-Sub = %q, want [%s]", tc.uri, subs, tc.wantSub)
			}
		})
	}
}

func TestGatewayRateLimit(t *testing.T) {
	s, _ := gatewayServer(t)
	ctx := newCtx("GET", "/limited")
	s.Handler(ctx)
	if got := ctx.Response.StatusCode(); got != fasthttp.StatusBadGateway {
		t.Fatalf("first request status = %d, want 502 (passed the limiter)", got)
	}
	ctx = newCtx("GET", "/limited")
	s.Handler(ctx)
	if got := ctx.Response.StatusCode(); got != fasthttp.StatusTooManyRequests {
		t.Fatalf("second request status = %d, want 429", got)
	}
	if got := string(ctx.Response.Header.Peek("Retry-After")); got != "1" {
		t.Errorf("Retry-After = %q, want \"1\"", got)
	}
}

func TestRequireAuthNeedsAuthenticator(t *testing.T) {
	table, err := strangler.NewTable([]strangler.Route{{Name: "p", Path: "/p", Upstream: "u", Step: -1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewServer(Config{Table: table}, &World{Routes: map[string]RouteOptions{"p": {RequireAuth: true}}})
	if err == nil || !strings.Contains(err.Error(), "requires auth") {
		t.Errorf("NewServer(RequireAuth without Auth) = %v, want a requires-auth error", err)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int64
	}{
		{time.Nanosecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {90 * time.Minute, 5400},
	}
	for _, tc := range tests {
		t.Run(tc.d.String(), func(t *testing.T) {
			if got := retryAfterSeconds(tc.d); got != tc.want {
				t.Errorf("retryAfterSeconds(%v) = %d, want %d", tc.d, got, tc.want)
			}
		})
	}
}

// TestGatewayNoAuthRouteAllocs checks that a route without auth or a limit, in a
// World with an Authenticator, strips identity headers without allocating.
func TestGatewayNoAuthRouteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	s, _ := gatewayServer(t)
	ws := s.world.Load()
	ctx := newCtx("GET", "/open")
	var id auth.Result
	x := s.acquireExchange()
	s.gate(ctx, ws, ws.options("open"), &id, x) // warm
	allocs := testing.AllocsPerRun(1000, func() {
		if !s.gate(ctx, ws, ws.options("open"), &id, x) {
			t.Fatal("gate refused an open route")
		}
	})
	if allocs != 0 {
		t.Errorf("gate on a route without auth: %v allocations per request, want 0", allocs)
	}
}

// TestGatewayRateLimitAllocs checks that the rate limit gate, admitting or
// refusing, allocates nothing: the limiter sits behind the RateLimiter interface,
// through which a key built on the stack would escape to the heap.
func TestGatewayRateLimitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	refusing, _ := gatewayServer(t) // "limited": 1/s, burst 1
	generous, err := limits.NewLimiter(limits.LimiterOptions{Rate: limits.Rate{Events: limits.MaxRateEvents, Per: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	table, err := strangler.NewTable([]strangler.Route{{Name: "limited", Path: "/limited", Upstream: "gone", Step: -1}})
	if err != nil {
		t.Fatal(err)
	}
	admitting, err := NewServer(Config{Table: table}, &World{Routes: map[string]RouteOptions{"limited": {RateLimit: generous}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    *Server
		want bool
	}{{"admitted", admitting, true}, {"refused", refusing, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ws := tc.s.world.Load()
			opts := ws.options("limited")
			x := tc.s.acquireExchange()
			ctx := newCtx("GET", "/limited")
			var id auth.Result
			tc.s.gate(ctx, ws, opts, &id, x) // tracks the client; spends the refusing limiter's token
			allocs := testing.AllocsPerRun(1000, func() {
				if got := tc.s.gate(ctx, ws, opts, &id, x); got != tc.want {
					t.Fatalf("gate = %v, want %v", got, tc.want)
				}
			})
			if allocs != 0 {
				t.Errorf("gate: %v allocations per request, want 0", allocs)
			}
		})
	}
}

// TestIdempotentReplayAllocs checks that Server.Handler answers a duplicate on an
// idempotent route from the store without allocating: the dispatch handed to
// idempotency.Handler.Handle lives in the exchange and the key scope on the stack
// (before, each such request paid a closure and two key strings).
func TestIdempotentReplayAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	var runs atomic.Int64
	ln := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusCreated)
		ctx.SetBodyString(`{"charge":` + strconv.FormatInt(runs.Add(1), 10) + `}`)
	})
	table, err := strangler.NewTable([]strangler.Route{{Name: "orders", Path: "/orders", Upstream: "up", Step: -1}})
	if err != nil {
		t.Fatal(err)
	}
	idem, err := idempotency.NewHandler(nil, idempotency.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(Config{Table: table}, &World{
		Upstreams: map[string]*proxy.Upstream{"up": newUpstream(t, ln.Addr().String(), proxy.Options{})},
		Routes:    map[string]RouteOptions{"orders": {Idempotency: idem}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := newCtx("POST", "/orders")
	ctx.Request.Header.Set(idempotency.KeyHeader, "order-1")
	ctx.Request.SetBodyString(`{"amount":100}`)
	s.Handler(ctx)
	if got := ctx.Response.StatusCode(); got != fasthttp.StatusCreated {
		t.Fatalf("first POST = %d %q, want 201", got, ctx.Response.Body())
	}
	allocs := testing.AllocsPerRun(200, func() {
		ctx.Response.Reset()
		s.Handler(ctx)
	})
	if got := string(ctx.Response.Header.Peek(idempotency.ReplayedHeader)); got != "true" ||
		string(ctx.Response.Body()) != `{"charge":1}` || runs.Load() != 1 {
		t.Fatalf("duplicate POST = %q (replayed %q) after %d upstream runs, want the first answer replayed",
			ctx.Response.Body(), got, runs.Load())
	}
	if allocs != 0 {
		t.Errorf("Handler on an idempotent replay: %v allocations per request, want 0", allocs)
	}
}

// BenchmarkGate measures the gateway's own cost per request, without the proxy:
// a route with neither auth nor a limit (identity headers stripped), and routes
// with auth plus a per-client rate limit, by a reused ES256 token (cached after
// the first request) or an API key.
func BenchmarkGate(b *testing.B) {
	f := newAuthFixture(b)
	a, err := auth.New(f.opts)
	if err != nil {
		b.Fatal(err)
	}
	lim, err := limits.NewLimiter(limits.LimiterOptions{Rate: limits.Rate{Events: 1_000_000_000, Per: time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	table, err := strangler.NewTable([]strangler.Route{
		{Name: "open", Path: "/open", Upstream: "gone", Step: -1},
		{Name: "gated", Path: "/gated", Upstream: "gone", Step: -1},
	})
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewServer(Config{Table: table}, &World{Auth: a, Routes: map[string]RouteOptions{
		"gated": {RequireAuth: true, Scopes: []string{"orders:read"}, RateLimit: lim, RateLimitBy: RateBySubject},
	}})
	if err != nil {
		b.Fatal(err)
	}
	tok := f.token(b)
	for _, tc := range []struct {
		name, route string
		hdr         []string
	}{
		{"open", "open", nil},
		{"jwt-ES256+limit", "gated", []string{"Authorization", "Bearer " + tok}},
		{"apikey+limit", "gated", []string{"X-API-Key", f.apiKey}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ws := s.world.Load()
			opts := ws.options(tc.route)
			ctx := newCtx("GET", "/"+tc.route)
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				ctx.Request.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
			var id auth.Result
			x := s.acquireExchange()
			b.ReportAllocs()
			for b.Loop() {
				if !s.gate(ctx, ws, opts, &id, x) {
					b.Fatalf("gate refused %s: %+v", tc.name, id)
				}
			}
		})
	}
}
