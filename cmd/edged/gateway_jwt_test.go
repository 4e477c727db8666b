package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edged/edged/auth"
	"github.com/edged/edged/idempotency"
)

const (
	jwtIssuer   = "https://issuer.gateway.test"
	jwtAudience = "edged-gateway-test"
)

// jwtKeys are the signing keys of the JWT gateway tests, generated per test, and
// the files the daemon reads their public halves from.
type jwtKeys struct {
	secret   []byte            // HS256, in jwt.secret
	ec       *ecdsa.PrivateKey // ES256, in jwt.pem (no kid)
	rsa      *rsa.PrivateKey   // RS256, in jwks.json as kid "rsa-1"
	stranger *ecdsa.PrivateKey // configured nowhere
	pemData  []byte            // the PEM file's bytes
}

func newJWTKeys(t *testing.T, dir string) *jwtKeys {
	t.Helper()
	k := &jwtKeys{secret: []byte("gateway-test-hs256-secret-0123456789abcdef")}
	var err error
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if k.stranger, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "jwt.secret", string(k.secret)+"\n", 0o600)
	k.pemData = ecPublicPEM(t, &k.ec.PublicKey)
	writeFile(t, dir, "jwt.pem", string(k.pemData), 0o644)
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64(k.rsa.N.Bytes()), "e": "AQAB"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "jwks.json", string(jwks), 0o644)
	return k
}

func rsaPublicPEM(t *testing.T, pub *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func ecPublicPEM(t *testing.T, pub *ecdsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// claims returns valid claims for sub, changed by edit.
func jwtClaims(sub string, edit func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": jwtIssuer, "aud": jwtAudience, "sub": sub,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Add(-time.Minute).Unix(),
		"scope": "orders:read", "email": sub + "@example.test", "tenant": "acme",
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// signJWT signs claims; it may run on any goroutine (it reports errors by panic).
func signJWT(m jwt.SigningMethod, kid string, c jwt.MapClaims, key any) string {
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		panic(fmt.Sprintf("sign %s: %v", m.Alg(), err))
	}
	return s
}

// jwtGatewayConfig accepts HS256 (secret file), ES256 (PEM) and RS256 (JWKS) on
// routes to the example monolith: /debug needs any valid token, /api/orders the
// orders:write scope, and /hello is rate limited per subject. The header limit is
// raised above the default 8 KiB so that a token over the auth cap (8 KiB) reaches
// the authenticator instead of being refused with 431 by the server.
func jwtGatewayConfig(b *binaries, upstream string) string {
	return daemonTOML(b, `max_header_size = "32KiB"`) + fmt.Sprintf(`

[auth]
jwt_secret_file = "jwt.secret"
jwt_key_file = "jwt.pem"
jwks_file = "jwks.json"
issuer = %[2]q
audience = %[3]q
forward_claims = ["email", "tenant"]

[upstreams.monolith]
url = %[1]q

[[routes]]
name = "debug"
path = "/debug"
stage = "legacy"
upstream = "monolith"
auth = "required"

[[routes]]
name = "orders"
path = "/api/orders"
stage = "legacy"
upstream = "monolith"
auth = "required"
scopes = ["orders:write"]

[[routes]]
name = "per-client"
path = "/hello"
stage = "legacy"
upstream = "monolith"
auth = "required"

  [routes.rate_limit]
  rate = "1/h"
  burst = 2
  key = "subject"
`, upstream, jwtIssuer, jwtAudience)
}

// metricValue returns the value of the sample of name with exactly the given
// labels (in the exposition's order, e.g. `reason="forbidden",route="orders"`)
// from the daemon's /metrics, or 0 when it is absent.
func metricValue(t *testing.T, e *edgedProc, name, labels string) float64 {
	t.Helper()
	code, _, body := get(t, e.admin+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+"{"+labels+"}") + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("metric %s{%s} = %q: %v", name, labels, m[1], err)
	}
	return v
}

// TestGatewayJWT drives bearer tokens through a running edged: the three key
// sources, every refusal with its challenge, scopes, the rejection metric, a
// flood of distinct clients against the per-subject limiter, and key rotation by
// SIGHUP with requests in flight.
func TestGatewayJWT(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	_, monoURL := startMonolithProc(t, b)
	keys := newJWTKeys(t, dir)
	cfgPath := writeFile(t, dir, "router.toml", jwtGatewayConfig(b, monoURL), 0o644)
	writeFile(t, dir, "admin.token", "admin-token-for-tests\n", 0o600)
	e := startEdged(t, b, nil, "serve", "-config", cfgPath)

	hs := func(c jwt.MapClaims) string { return signJWT(jwt.SigningMethodHS256, "", c, keys.secret) }
	es := func(c jwt.MapClaims) string { return signJWT(jwt.SigningMethodES256, "", c, keys.ec) }
	rs := func(c jwt.MapClaims) string { return signJWT(jwt.SigningMethodRS256, "rsa-1", c, keys.rsa) }
	now := time.Now()

	t.Run("valid tokens reach upstream with identity", func(t *testing.T) {
		for _, tc := range []struct{ name, token string }{
			{"HS256 secret file", hs(jwtClaims("hs-user", nil))},
			{"ES256 PEM", es(jwtClaims("es-user", nil))},
			{"RS256 JWKS", rs(jwtClaims("rs-user", nil))},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// Twice: the second answer comes from the verified-token cache
				// and must carry the same identity.
				for i := range 2 {
					code, h, body := get(t, e.public+"/debug/headers", "Authorization", "Bearer "+tc.token,
						"X-Edged-Auth-Sub", "mallory")
					if code != http.StatusOK {
						t.Fatalf("GET /debug/headers #%d with %s = %d %q (WWW-Authenticate %q), want 200",
							i+1, tc.name, code, body, h.Get("WWW-Authenticate"))
					}
					hdr := echoedHeaders(t, body)
					var claims jwt.MapClaims
					if _, _, err := jwt.NewParser().ParseUnverified(tc.token, &claims); err != nil {
						t.Fatal(err)
					}
					want := map[string]string{
						"X-Edged-Auth-Method":       "jwt",
						"X-Edged-Auth-Sub":          claims["sub"].(string),
						"X-Edged-Auth-Scope":        "orders:read",
						"X-Edged-Auth-Claim-Email":  claims["sub"].(string) + "@example.test",
						"X-Edged-Auth-Claim-Tenant": "acme",
					}
					for name, v := range want {
						if got := hdr.Values(name); len(got) != 1 || got[0] != v {
							t.Errorf("request #%d: upstream %s = %q, want [%q]", i+1, name, got, v)
						}
					}
				}
			})
		}
	})

	big := hs(jwtClaims("big-user", func(c jwt.MapClaims) { c["pad"] = strings.Repeat("p", 6<<10+512) }))
	unauthorized := []struct {
		name, token, reason string
	}{
		{"expired", hs(jwtClaims("u", func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), "token expired"},
		{"not yet valid", es(jwtClaims("u", func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), "token not yet valid"},
		{"wrong issuer", rs(jwtClaims("u", func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })), "wrong issuer"},
		{"wrong audience", es(jwtClaims("u", func(c jwt.MapClaims) { c["aud"] = "someone-else" })), "wrong audience"},
		{"alg none", signJWT(jwt.SigningMethodNone, "", jwtClaims("u", nil), jwt.UnsafeAllowNoneSignatureType), "algorithm not allowed"},
		{"signed with the wrong key", es(nil) /* replaced below */, "invalid signature"},
		{"HS256 with the ES256 public key as secret", signJWT(jwt.SigningMethodHS256, "", jwtClaims("u", nil), keys.pemData), "invalid signature"},
		{"HS256 with the RS256 public key as secret, RS256 kid", signJWT(jwt.SigningMethodHS256, "rsa-1", jwtClaims("u", nil), rsaPublicPEM(t, &keys.rsa.PublicKey)), "invalid signature"},
		// Would be valid if parsed: only the size cap refuses it.
		{"over the size cap", big, "token too large"},
	}
	unauthorized[5].token = signJWT(jwt.SigningMethodES256, "", jwtClaims("u", nil), keys.stranger)
	// Over the 8 KiB cap, yet within the server's header limit.
	if n := len(big); n <= auth.DefaultMaxTokenBytes || n > 12<<10 {
		t.Fatalf("big token is %d bytes, want just over %d", n, auth.DefaultMaxTokenBytes)
	}

	t.Run("refused tokens are 401 with a challenge", func(t *testing.T) {
		for _, tc := range unauthorized {
			t.Run(tc.name, func(t *testing.T) {
				code, h, body := get(t, e.public+"/debug/headers", "Authorization", "Bearer "+tc.token)
				chal := h.Get("WWW-Authenticate")
				if code != http.StatusUnauthorized {
					t.Fatalf("GET /debug/headers with %s = %d %q, want 401", tc.name, code, body)
				}
				if !strings.HasPrefix(chal, `Bearer realm="edged"`) || !strings.Contains(chal, `error="invalid_token"`) ||
					!strings.Contains(chal, `error_description="`+tc.reason+`"`) {
					t.Errorf("WWW-Authenticate for %s = %q, want invalid_token with %q", tc.name, chal, tc.reason)
				}
			})
		}
	})

	t.Run("missing scope is 403", func(t *testing.T) {
		code, h, body := post(t, e.public+"/api/orders", `{"item":"widget","qty":1}`,
			"Authorization", "Bearer "+es(jwtClaims("reader", nil)))
		chal := h.Get("WWW-Authenticate")
		if code != http.StatusForbidden || !strings.Contains(chal, `error="insufficient_scope"`) ||
			!strings.Contains(chal, `scope="orders:write"`) {
			t.Errorf("POST /api/orders without orders:write = %d %q, WWW-Authenticate %q; want 403 insufficient_scope",
				code, body, chal)
		}
		writer := es(jwtClaims("writer", func(c jwt.MapClaims) { c["scope"] = "orders:read orders:write" }))
		if code, _, body := post(t, e.public+"/api/orders", `{"item":"widget","qty":1}`, "Authorization", "Bearer "+writer); code != http.StatusCreated {
			t.Errorf("POST /api/orders with orders:write = %d %q, want 201", code, body)
		}
	})

	t.Run("rejections are counted per route and reason", func(t *testing.T) {
		if got, want := metricValue(t, e, "edged_gateway_rejections_total", `reason="unauthenticated",route="debug"`),
			float64(len(unauthorized)); got != want {
			t.Errorf("edged_gateway_rejections_total{debug, unauthenticated} = %v, want %v", got, want)
		}
		if got := metricValue(t, e, "edged_gateway_rejections_total", `reason="forbidden",route="orders"`); got != 1 {
			t.Errorf("edged_gateway_rejections_total{orders, forbidden} = %v, want 1", got)
		}
	})

	t.Run("flood of distinct subjects leaves the limiter working", func(t *testing.T) {
		// Every new subject has a full bucket; thousands of them must neither
		// break the daemon nor let an exhausted client through.
		const n = 3000
		before := metricValue(t, e, "edged_gateway_rejections_total", `reason="rate_limited",route="per-client"`)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		defer client.CloseIdleConnections()
		var wg sync.WaitGroup
		errc := make(chan error, 4)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += 4 {
					tok := hs(jwtClaims("flood-"+strconv.Itoa(i), nil))
					if code, err := doGet(client, e.public+"/hello", tok); err != nil || code != http.StatusOK {
						errc <- fmt.Errorf("GET /hello as flood-%d = %d, %v; want 200", i, code, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		steady := hs(jwtClaims("steady", nil))
		var codes []int
		for range 3 {
			code, err := doGet(client, e.public+"/hello", steady)
			if err != nil {
				t.Fatal(err)
			}
			codes = append(codes, code)
		}
		if fmt.Sprint(codes) != "[200 200 429]" {
			t.Errorf("GET /hello thrice as one subject after the flood = %v, want [200 200 429]", codes)
		}
		if got := metricValue(t, e, "edged_gateway_rejections_total", `reason="rate_limited",route="per-client"`); got != before+1 {
			t.Errorf("edged_gateway_rejections_total{per-client, rate_limited} = %v, want %v", got, before+1)
		}
	})

	t.Run("sighup rotates keys with requests in flight", func(t *testing.T) {
		oldES := es(jwtClaims("es-user", nil)) // verified, so cached, before the rotation
		if code, _, body := get(t, e.public+"/debug/headers", "Authorization", "Bearer "+oldES); code != http.StatusOK {
			t.Fatalf("GET with the ES256 key before rotation = %d %q, want 200", code, body)
		}
		stable := hs(jwtClaims("hs-user", nil))

		// Clients hammer the daemon through the reload with a token that stays
		// valid and one whose key goes away: every answer must be 200 or a
		// clean 401, never a 5xx or a broken connection.
		// Each client goes on for a fixed number of requests once the reload is done.
		reloaded := make(chan struct{})
		var wg sync.WaitGroup
		var sent atomic.Int64
		errc := make(chan error, 8)
		for w := range 4 {
			tok := []string{stable, oldES}[w%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{}
				defer client.CloseIdleConnections()
				after := -1 // requests left once reloaded; -1 before
				for after != 0 {
					if after < 0 {
						select {
						case <-reloaded:
							after = 50
						default:
						}
					} else {
						after--
					}
					code, err := doGet(client, e.public+"/debug/headers", tok)
					sent.Add(1)
					if err != nil || (code != http.StatusOK && code != http.StatusUnauthorized) {
						errc <- fmt.Errorf("GET during rotation = %d, %v; want 200 or 401", code, err)
						return
					}
				}
			}()
		}
		newEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, "jwt.pem", string(ecPublicPEM(t, &newEC.PublicKey)), 0o644)
		from := e.stderr.len()
		e.signal(t, syscall.SIGHUP)
		e.stderr.wait(t, from, "msg=reloaded")
		close(reloaded)
		wg.Wait()
		t.Logf("%d requests sent around the reload", sent.Load())
		close(errc)
		for err := range errc {
			t.Error(err)
		}

		if code, h, _ := get(t, e.public+"/debug/headers", "Authorization", "Bearer "+oldES); code != http.StatusUnauthorized ||
			!strings.Contains(h.Get("WWW-Authenticate"), "invalid signature") {
			t.Errorf("GET with a cached token of a rotated-out key = %d (%q), want 401 invalid signature",
				code, h.Get("WWW-Authenticate"))
		}
		newTok := signJWT(jwt.SigningMethodES256, "", jwtClaims("es-user", nil), newEC)
		if code, _, body := get(t, e.public+"/debug/headers", "Authorization", "Bearer "+newTok); code != http.StatusOK {
			t.Errorf("GET with the new ES256 key = %d %q, want 200", code, body)
		}
		if code, _, body := get(t, e.public+"/debug/headers", "Authorization", "Bearer "+stable); code != http.StatusOK {
			t.Errorf("GET with the unchanged HS256 secret = %d %q, want 200", code, body)
		}
	})
}

// doGet is a GET with a bearer token that is safe on any goroutine: it returns
// errors instead of failing the test.
func doGet(c *http.Client, url, token string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// blockingUpstream is a loopback HTTP server whose POSTs report their arrival and
// then wait to be released, so a test can send a duplicate while the first request
// is provably in flight.
type blockingUpstream struct {
	url     string
	arrived chan string   // the Idempotency-Key of each POST, on arrival
	release chan struct{} // each receive lets one waiting POST answer
	runs    atomic.Int64
}

func startBlockingUpstream(t *testing.T) *blockingUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &blockingUpstream{url: "http://" + ln.Addr().String(), arrived: make(chan string, 8), release: make(chan struct{})}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := u.runs.Add(1)
		u.arrived <- r.Header.Get("Idempotency-Key")
		select {
		case <-u.release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"run":%d}`, n)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return u
}

type postResult struct {
	code     int
	replayed string
	body     string
	err      error
}

// postAsync sends a POST with an Idempotency-Key on its own goroutine.
func postAsync(url, key string) <-chan postResult {
	out := make(chan postResult, 1)
	go func() {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"n":1}`))
		if err != nil {
			out <- postResult{err: err}
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(idempotency.KeyHeader, key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- postResult{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- postResult{resp.StatusCode, resp.Header.Get(idempotency.ReplayedHeader), string(b), err}
	}()
	return out
}

// TestGatewayIdempotencyConcurrent sends a duplicate while the first request of its
// Idempotency-Key is held at the upstream: on_concurrent "wait" answers it with the
// first one's response, marked replayed; "conflict" answers 409 at once.
func TestGatewayIdempotencyConcurrent(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	up := startBlockingUpstream(t)
	cfg := daemonTOML(b) + fmt.Sprintf(`

[upstreams.blocker]
url = %[1]q

[[routes]]
name = "wait"
path = "/wait"
stage = "legacy"
upstream = "blocker"

  [routes.idempotency]
  enabled = true
  on_concurrent = "wait"

[[routes]]
name = "conflict"
path = "/conflict"
stage = "legacy"
upstream = "blocker"

  [routes.idempotency]
  enabled = true
  on_concurrent = "conflict"
`, up.url)
	cfgPath := writeFile(t, dir, "router.toml", cfg, 0o644)
	writeFile(t, dir, "admin.token", "admin-token-for-tests\n", 0o600)
	e := startEdged(t, b, nil, "serve", "-config", cfgPath)

	t.Run("wait", func(t *testing.T) {
		runs := up.runs.Load()
		first := postAsync(e.public+"/wait/pay", "pay-1")
		if k := <-up.arrived; k != "pay-1" {
			t.Fatalf("upstream got key %q, want pay-1", k)
		}
		dup := postAsync(e.public+"/wait/pay", "pay-1")
		// The duplicate is parked in edged, not at the upstream: wait until the
		// daemon reports it waiting before letting the first one finish.
		waitMetric(t, e, "edged_idempotency_waiting", `route="wait"`, 1)
		if got := metricValue(t, e, "edged_idempotency_in_flight", `route="wait"`); got != 1 {
			t.Errorf("edged_idempotency_in_flight{wait} = %v, want 1", got)
		}
		up.release <- struct{}{}
		r1, r2 := <-first, <-dup
		if r1.err != nil || r2.err != nil {
			t.Fatalf("POSTs: %v, %v", r1.err, r2.err)
		}
		if r1.code != http.StatusCreated || r1.replayed != "" {
			t.Errorf("first POST = %d replayed %q, want 201 not replayed", r1.code, r1.replayed)
		}
		if r2.code != http.StatusCreated || r2.replayed != "true" || r2.body != r1.body {
			t.Errorf("duplicate POST = %d replayed %q body %q, want 201 replayed \"true\" body %q", r2.code, r2.replayed, r2.body, r1.body)
		}
		if n := up.runs.Load() - runs; n != 1 {
			t.Errorf("upstream ran the request %d times, want once", n)
		}
		if got := metricValue(t, e, "edged_idempotency_waiting", `route="wait"`); got != 0 {
			t.Errorf("edged_idempotency_waiting{wait} after both answered = %v, want 0", got)
		}
	})

	t.Run("conflict", func(t *testing.T) {
		runs := up.runs.Load()
		first := postAsync(e.public+"/conflict/pay", "pay-2")
		if k := <-up.arrived; k != "pay-2" {
			t.Fatalf("upstream got key %q, want pay-2", k)
		}
		// The first request is held at the upstream, so this one is a
		// concurrent duplicate by construction.
		dup := <-postAsync(e.public+"/conflict/pay", "pay-2")
		if dup.err != nil || dup.code != http.StatusConflict || !strings.Contains(dup.body, "idempotency_in_progress") {
			t.Errorf("concurrent duplicate POST = %d %q (%v), want 409 idempotency_in_progress", dup.code, dup.body, dup.err)
		}
		up.release <- struct{}{}
		r1 := <-first
		if r1.err != nil || r1.code != http.StatusCreated || r1.replayed != "" {
			t.Fatalf("first POST = %d replayed %q (%v), want 201 not replayed", r1.code, r1.replayed, r1.err)
		}
		// Once the first has finished, a duplicate is a replay, not a conflict.
		r3 := <-postAsync(e.public+"/conflict/pay", "pay-2")
		if r3.err != nil || r3.code != http.StatusCreated || r3.replayed != "true" || r3.body != r1.body {
			t.Errorf("later duplicate POST = %d replayed %q body %q (%v), want 201 replayed body %q",
				r3.code, r3.replayed, r3.body, r3.err, r1.body)
		}
		if n := up.runs.Load() - runs; n != 1 {
			t.Errorf("upstream ran the request %d times, want once", n)
		}
	})
}

// waitMetric polls /metrics until the sample equals want, a bounded number of
// times: it waits on the daemon's own report of its state, not on a guess.
func waitMetric(t *testing.T, e *edgedProc, name, labels string, want float64) {
	t.Helper()
	const tries = 200
	var got float64
	for i := range tries {
		if got = metricValue(t, e, name, labels); got == want {
			return
		}
		time.Sleep(time.Duration(min(i+1, 20)) * time.Millisecond)
	}
	t.Fatalf("%s{%s} = %v after %d polls, want %v", name, labels, got, tries, want)
}
