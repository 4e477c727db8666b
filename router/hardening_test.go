package router

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/auth"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

// seenRequest is what the recording upstream of hardenedEdge was sent.
type seenRequest struct {
	target string              // the request line's target
	header map[string][]string // names lower-cased, values in order
}

// hardenedEdge serves, on loopback, an edge with an Authenticator in front of a
// real fasthttp upstream that records every request it gets: "secure" (/secure,
// auth required), "public" (/secure/public) and "open" (/), the last two without
// auth, all go to that upstream.
func hardenedEdge(t *testing.T) (*edge, *authFixture, chan seenRequest) {
	t.Helper()
	seen := make(chan seenRequest, 16)
	ln := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		r := seenRequest{target: string(ctx.Request.Header.RequestURI()), header: map[string][]string{}}
		for k, v := range ctx.Request.Header.All() {
			name := strings.ToLower(string(k))
			r.header[name] = append(r.header[name], string(v))
		}
		seen <- r
		ctx.SetBodyString("upstream")
	})
	f := newAuthFixture(t)
	a, err := auth.New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	e := startEdge(t, []strangler.Route{
		{Name: "secure", Path: "/secure", Upstream: "monolith"},
		{Name: "public", Path: "/secure/public", Upstream: "monolith"},
		{Name: "open", Path: "/", Upstream: "monolith"},
	}, &World{
		Upstreams: map[string]*proxy.Upstream{"monolith": upstreamFor(t, ln.Addr().String())},
		Auth:      a,
		Routes:    map[string]RouteOptions{"secure": {RequireAuth: true}},
	})
	return e, f, seen
}

// rawExchange writes req on a new connection to addr and reads one response.
func rawExchange(t *testing.T, addr, req string) *fasthttp.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp := &fasthttp.Response{SkipBody: strings.HasPrefix(req, "HEAD ")}
	resp.Header.DisableNormalizing()
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		t.Fatalf("read response to %q: %v", req, err)
	}
	return resp
}

// next returns the request the upstream saw, or fails when it saw none.
func nextSeen(t *testing.T, seen chan seenRequest) seenRequest {
	t.Helper()
	select {
	case r := <-seen:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("the upstream got no request")
		return seenRequest{}
	}
}

// TestIdentitySurvivesConnectionAndUnderscores: a client can neither remove the
// identity edged adds by naming it in Connection (the proxy strips what Connection
// names) nor forge one with '_' in place of '-', which CGI, WSGI and PHP
// upstreams read as the same header.
func TestIdentitySurvivesConnectionAndUnderscores(t *testing.T) {
	e, f, seen := hardenedEdge(t)
	tests := []struct {
		name    string
		path    string
		headers string
		wantSub []string // X-Edged-Auth-Sub at the upstream
	}{
		{name: "connection names identity", path: "/secure",
			headers: "X-API-Key: " + f.apiKey + "\r\nConnection: keep-alive, X-Edged-Auth-Sub,x-edged-auth-method\r\n",
			wantSub: []string{"svc-a"}},
		{name: "connection names identity with underscores", path: "/secure",
			headers: "X-API-Key: " + f.apiKey + "\r\nConnection: X_Edged_Auth_Sub\r\n",
			wantSub: []string{"svc-a"}},
		{name: "underscore forgery on auth route", path: "/secure",
			headers: "X-API-Key: " + f.apiKey + "\r\nX_Edged_Auth_Sub: mallory\r\nx_edged_AUTH-scope: admin\r\n",
			wantSub: []string{"svc-a"}},
		{name: "underscore forgery on open route", path: "/open",
			headers: "X_Edged_Auth_Sub: mallory\r\nX-Edged_Auth_Method: jwt\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawExchange(t, e.addr, "GET "+tc.path+" HTTP/1.1\r\nHost: app\r\n"+tc.headers+"\r\n")
			if resp.StatusCode() != 200 {
				t.Fatalf("GET %s = %d, want 200", tc.path, resp.StatusCode())
			}
			r := nextSeen(t, seen)
			if got := r.header["x-edged-auth-sub"]; strings.Join(got, ",") != strings.Join(tc.wantSub, ",") {
				t.Errorf("upstream X-Edged-Auth-Sub = %q, want %q", got, tc.wantSub)
			}
			if tc.wantSub != nil && len(r.header["x-edged-auth-method"]) != 1 {
				t.Errorf("upstream X-Edged-Auth-Method = %q, want one", r.header["x-edged-auth-method"])
			}
			for name, v := range r.header {
				if strings.HasPrefix(strings.ReplaceAll(name, "_", "-"), "x-edged-auth-") && strings.Contains(name, "_") {
					t.Errorf("upstream got forged %s: %q", name, v)
				}
			}
		})
	}
}

// TestAbsoluteFormTargets: an absolute-form target is served as its origin-form with
// the target's host, userinfo in the target or Host is refused before anything is
// forwarded, and none of it counts as a legacy 5xx (which would loosen the canary's
// error gate).
func TestAbsoluteFormTargets(t *testing.T) {
	e, _, seen := hardenedEdge(t)
	tests := []struct {
		name, target, host string
		wantStatus         int
		wantTarget         string // at the upstream; "" when it must see nothing
		wantHost           string
	}{
		{name: "userinfo in target", target: "http://user:pw@app/open", host: "app", wantStatus: 400},
		{name: "userinfo in target, no password", target: "https://admin@app/", host: "app", wantStatus: 400},
		{name: "userinfo in Host", target: "/open", host: "user:pw@app", wantStatus: 400},
		{name: "https target", target: "https://app.example/open/x?q=1", host: "other",
			wantStatus: 200, wantTarget: "/open/x?q=1", wantHost: "app.example"},
		{name: "http target, no path", target: "HTTP://app.example:8080?q", host: "app.example:8080",
			wantStatus: 200, wantTarget: "/?q", wantHost: "app.example:8080"},
		{name: "absolute target keeps auth", target: "http://app/secure/x", host: "app", wantStatus: 401},
		{name: "other scheme", target: "ftp://app/open", host: "app", wantStatus: 400},
		{name: "empty authority", target: "http:///open", host: "app", wantStatus: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawExchange(t, e.addr, "GET "+tc.target+" HTTP/1.1\r\nHost: "+tc.host+"\r\n\r\n")
			if resp.StatusCode() != tc.wantStatus {
				t.Fatalf("GET %s (Host %s) = %d, want %d", tc.target, tc.host, resp.StatusCode(), tc.wantStatus)
			}
			if tc.wantTarget == "" {
				select {
				case r := <-seen:
					t.Fatalf("the upstream got %q, want nothing", r.target)
				default:
				}
				return
			}
			r := nextSeen(t, seen)
			if r.target != tc.wantTarget || strings.Join(r.header["host"], ",") != tc.wantHost {
				t.Errorf("upstream got %q with Host %q, want %q with Host %q", r.target, r.header["host"],
					tc.wantTarget, tc.wantHost)
			}
			if auth := r.header["authorization"]; auth != nil {
				t.Errorf("upstream got Authorization %q the client never sent", auth)
			}
		})
	}
	for _, route := range []string{"open", "secure"} {
		if n := e.srv.state(route).targets[targetLegacy].errors5xx.Load(); n != 0 {
			t.Errorf("route %s: %d legacy 5xx, want 0", route, n)
		}
	}
}

// TestPathSpellingsCannotSkipAuth: no spelling of a path skips an auth-required
// route. A path that every reading (the inclusive one routing uses, and the literal
// one of an upstream that decodes nothing and strips no ';') sends to the same route
// is served by it, and the upstream gets the path byte for byte; a path whose
// readings pick different routes, or with an ambiguous dot segment, is refused.
func TestPathSpellingsCannotSkipAuth(t *testing.T) {
	e, f, seen := hardenedEdge(t)
	tests := []struct {
		name, target string
		wantStatus   int // without a credential
	}{
		{"plain", "/secure/x", 401},
		{"upper case", "/SECURE", 401},
		{"mixed case", "/Secure/X", 401},
		{"encoded slash inside the route", "/secure/a%2Fb", 401},
		{"parameters inside the route", "/secure/x;jsessionid=42", 401},
		{"backslash inside the route", "/secure/a\\b", 401},
		{"encoded slash", "/secure%2Fx", 400},
		{"encoded slash lower-case", "/secure%2fx?q=1", 400},
		{"encoded backslash", "/secure%5Cx", 400},
		{"backslash", "/secure\\x", 400},
		{"path parameter", "/secure;a", 400},
		{"parameter before a slash", "/secure;jsessionid=42/x", 400},
		{"leading encoded slash", "/%2Fsecure", 400},
		{"encoded slash into an open route below", "/secure/public%2Fsecret", 400},
		{"dot-dot with parameters", "/open/..;/secure", 400},
		{"dot-dot between encoded slashes", "/open%2F..%2Fsecure", 400},
		{"open route", "/open/x", 200},
		{"open route, encoded slash", "/open/a%2Fb;c", 200},
		{"open route below", "/secure/public/x", 200},
		{"prefix is not a segment", "/securex", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawExchange(t, e.addr, "GET "+tc.target+" HTTP/1.1\r\nHost: app\r\n\r\n")
			if resp.StatusCode() != tc.wantStatus {
				t.Fatalf("GET %s = %d, want %d", tc.target, resp.StatusCode(), tc.wantStatus)
			}
			if tc.wantStatus == 200 {
				if r := nextSeen(t, seen); r.target != tc.target {
					t.Errorf("upstream got %q, want %q", r.target, tc.target)
				}
				return
			}
			if tc.wantStatus != 401 {
				return
			}
			// With the credential, the request passes and the upstream gets the
			// target exactly as the client sent it.
			resp = rawExchange(t, e.addr, "GET "+tc.target+" HTTP/1.1\r\nHost: app\r\nX-API-Key: "+f.apiKey+"\r\n\r\n")
			if resp.StatusCode() != 200 {
				t.Fatalf("GET %s with a key = %d, want 200", tc.target, resp.StatusCode())
			}
			r := nextSeen(t, seen)
			if r.target != tc.target || len(r.header["x-edged-auth-sub"]) != 1 {
				t.Errorf("upstream got %q with identity %q, want %q with one", r.target, r.header["x-edged-auth-sub"], tc.target)
			}
		})
	}
}

// TestProxyKeepsUpstreamDate: a proxied answer carries the upstream's own Date, once,
// whatever its spelling (fasthttp writes its own Date unless told otherwise); an
// upstream answer without Date gets the time edged received it; answers edged builds
// itself have a Date too.
func TestProxyKeepsUpstreamDate(t *testing.T) {
	const fixed = "Tue, 15 Nov 1994 08:12:31 GMT"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch strings.TrimPrefix(r.URL.Path, "/up") {
		case "/fixed":
			w.Header().Set("Date", fixed)
		case "/lower":
			w.Header()["date"] = []string{fixed}
		case "/none":
			w.Header()["Date"] = nil // net/http leaves Date out
		case "/stream":
			w.Header().Set("Date", fixed)
			w.Header().Set("X-Kept", "1")
			w.WriteHeader(200)
			for range 4 {
				_, _ = w.Write(make([]byte, 32<<10)) // chunked, streamed by the proxy
				w.(http.Flusher).Flush()
			}
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(up.Close)
	e := startEdge(t, []strangler.Route{{Name: "legacy", Path: "/up", Upstream: "monolith"}},
		&World{Upstreams: map[string]*proxy.Upstream{"monolith": upstreamFor(t, strings.TrimPrefix(up.URL, "http://"))}})
	tests := []struct {
		name, path, method string
		wantStatus         int
		wantDate           string // "" means any valid HTTP date
	}{
		{"fixed", "/up/fixed", "GET", 200, fixed},
		{"fixed, HEAD", "/up/fixed", "HEAD", 200, fixed},
		{"lower-case name", "/up/lower", "GET", 200, fixed},
		{"streamed", "/up/stream", "GET", 200, fixed},
		{"upstream without Date", "/up/none", "GET", 200, ""},
		{"edged's own 404", "/elsewhere", "GET", 404, ""},
		{"edged's own 400", "/up/..;/x", "GET", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawExchange(t, e.addr, tc.method+" "+tc.path+" HTTP/1.1\r\nHost: app\r\n\r\n")
			if resp.StatusCode() != tc.wantStatus {
				t.Fatalf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode(), tc.wantStatus)
			}
			var dates []string
			for k, v := range resp.Header.All() {
				if strings.EqualFold(string(k), "Date") {
					dates = append(dates, string(v))
				}
			}
			if len(dates) != 1 {
				t.Fatalf("%s %s: Date fields %q, want exactly one", tc.method, tc.path, dates)
			}
			if tc.wantDate != "" && dates[0] != tc.wantDate {
				t.Errorf("%s %s: Date = %q, want the upstream's %q", tc.method, tc.path, dates[0], tc.wantDate)
			}
			if _, err := http.ParseTime(dates[0]); err != nil {
				t.Errorf("%s %s: Date %q: %v", tc.method, tc.path, dates[0], err)
			}
		})
	}
}
