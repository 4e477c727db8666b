package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/edged/edged/auth"
	"github.com/edged/edged/idempotency"
)

// Plaintext API keys of the gateway test; the key file holds only their hashes.
const (
	gwKeyAlice = "alice-key-0123456789abcdef0123456789" // scope orders:write
	gwKeyBob   = "bob-key-0123456789abcdef0123456789ab" // no scope
	gwKeyCarol = "carol-key-0123456789abcdef0123456789" // written by the rotation
)

// gatewayConfig is a router.toml with [auth] and routes that use auth, a rate limit
// and idempotency keys, all on the legacy path to the example monolith.
func gatewayConfig(b *binaries, upstream string) string {
	return daemonTOML(b) + fmt.Sprintf(`

[auth]
api_key_file = "api.keys"

[upstreams.monolith]
url = %[1]q

[[routes]]
name = "debug"
path = "/debug"
stage = "legacy"
upstream = "monolith"
auth = "required"

[[routes]]
name = "open"
path = "/debug/open"
stage = "legacy"
upstream = "monolith"

[[routes]]
name = "limited"
path = "/hello"
stage = "legacy"
upstream = "monolith"

  [routes.rate_limit]
  rate = "1/h"
  burst = 3

[[routes]]
name = "orders"
path = "/api/orders"
stage = "legacy"
upstream = "monolith"
auth = "required"
scopes = ["orders:write"]

  [routes.idempotency]
  enabled = true
  ttl = "1h"
`, upstream)
}

// apiKeyFile renders key file lines for (key, name, scopes...) entries.
func apiKeyFile(t *testing.T, entries ...[]string) string {
	t.Helper()
	var sb strings.Builder
	for _, e := range entries {
		line, err := auth.KeyLine(e[0], e[1], e[2:]...)
		if err != nil {
			t.Fatalf("KeyLine(%q): %v", e[1], err)
		}
		sb.WriteString(line + "\n")
	}
	return sb.String()
}

// post sends a POST with a body and optional headers (name, value pairs).
func post(t *testing.T, url, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// echoedHeaders decodes the monolith's /debug/ answer into its request headers.
func echoedHeaders(t *testing.T, body string) http.Header {
	t.Helper()
	var v struct {
		Headers http.Header `json:"headers"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode /debug answer %q: %v", body, err)
	}
	return v.Headers
}

// TestGateway drives auth, rate limits and idempotency keys on a running edged.
func TestGateway(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	_, monoURL := startMonolithProc(t, b)
	cfgPath := writeFile(t, dir, "router.toml", gatewayConfig(b, monoURL), 0o644)
	writeFile(t, dir, "admin.token", "admin-token-for-tests\n", 0o600)
	writeFile(t, dir, "api.keys", apiKeyFile(t,
		[]string{gwKeyAlice, "alice", "orders:write"},
		[]string{gwKeyBob, "bob"}), 0o600)
	e := startEdged(t, b, nil, "serve", "-config", cfgPath)

	t.Run("no key is 401 with a challenge", func(t *testing.T) {
		code, h, _ := get(t, e.public+"/debug/headers")
		if code != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
			t.Errorf("GET /debug/headers without key = %d, WWW-Authenticate %q; want 401 and a challenge",
				code, h.Get("WWW-Authenticate"))
		}
	})

	t.Run("wrong key is 401", func(t *testing.T) {
		if code, _, _ := get(t, e.public+"/debug/headers", "X-API-Key", "not-a-key-0123456789"); code != http.StatusUnauthorized {
			t.Errorf("GET /debug/headers with a wrong key = %d, want 401", code)
		}
	})

	t.Run("valid key reaches upstream with identity, forged one stripped", func(t *testing.T) {
		code, _, body := get(t, e.public+"/debug/headers",
			"X-API-Key", gwKeyAlice, "X-Edged-Auth-Sub", "mallory", "x-edged-auth-scope", "admin")
		if code != http.StatusOK {
			t.Fatalf("GET /debug/headers with key = %d %q, want 200", code, body)
		}
		h := echoedHeaders(t, body)
		if got := h.Values("X-Edged-Auth-Sub"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("upstream X-Edged-Auth-Sub = %q, want [alice]", got)
		}
		if got := h.Get("X-Edged-Auth-Method"); got != "api-key" {
			t.Errorf("upstream X-Edged-Auth-Method = %q, want api-key", got)
		}
		if got := h.Get("X-Edged-Auth-Scope"); got != "orders:write" {
			t.Errorf("upstream X-Edged-Auth-Scope = %q, want orders:write", got)
		}
	})

	t.Run("forged identity stripped on a route without auth", func(t *testing.T) {
		code, _, body := get(t, e.public+"/debug/open", "X-Edged-Auth-Sub", "mallory")
		if code != http.StatusOK {
			t.Fatalf("GET /debug/open = %d %q, want 200", code, body)
		}
		if got := echoedHeaders(t, body).Get("X-Edged-Auth-Sub"); got != "" {
			t.Errorf("upstream X-Edged-Auth-Sub = %q, want it stripped", got)
		}
	})

	t.Run("rate limit answers 429 with Retry-After after the burst", func(t *testing.T) {
		for i := range 3 {
			if code, _, body := get(t, e.public+"/hello"); code != http.StatusOK {
				t.Fatalf("GET /hello #%d = %d %q, want 200 within the burst", i+1, code, body)
			}
		}
		code, h, _ := get(t, e.public+"/hello")
		if code != http.StatusTooManyRequests {
			t.Fatalf("GET /hello #4 = %d, want 429", code)
		}
		// "1/h": the next token is about an hour away.
		if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 3000 || s > 3600 {
			t.Errorf("Retry-After = %q, want whole seconds near 3600", h.Get("Retry-After"))
		}
	})

	const order = `{"item":"widget","qty":2}`
	t.Run("idempotent POST runs once", func(t *testing.T) {
		key := "order-attempt-1"
		c1, h1, b1 := post(t, e.public+"/api/orders", order, "X-API-Key", gwKeyAlice, "Idempotency-Key", key)
		c2, h2, b2 := post(t, e.public+"/api/orders", order, "X-API-Key", gwKeyAlice, "Idempotency-Key", key)
		if c1 != http.StatusCreated || c2 != http.StatusCreated {
			t.Fatalf("POST /api/orders twice = %d %q, %d %q; want 201 twice", c1, b1, c2, b2)
		}
		var o1, o2 struct {
			OrderID string `json:"order_id"`
		}
		if json.Unmarshal([]byte(b1), &o1) != nil || json.Unmarshal([]byte(b2), &o2) != nil || o1.OrderID == "" {
			t.Fatalf("order answers %q, %q: want JSON with order_id", b1, b2)
		}
		if o1.OrderID != o2.OrderID {
			t.Errorf("order ids = %q, %q; want one order", o1.OrderID, o2.OrderID)
		}
		if h1.Get(idempotency.ReplayedHeader) != "" || h2.Get(idempotency.ReplayedHeader) != "true" {
			t.Errorf("Idempotent-Replayed = %q, %q; want \"\", \"true\"",
				h1.Get(idempotency.ReplayedHeader), h2.Get(idempotency.ReplayedHeader))
		}
		// A new key makes a new order: the first answer was not a cache.
		_, _, b3 := post(t, e.public+"/api/orders", order, "X-API-Key", gwKeyAlice, "Idempotency-Key", "order-attempt-2")
		if strings.Contains(b3, o1.OrderID) {
			t.Errorf("POST with a new key = %q, want a new order id", b3)
		}
	})

	t.Run("same key with another body is 422", func(t *testing.T) {
		code, _, body := post(t, e.public+"/api/orders", `{"item":"widget","qty":3}`,
			"X-API-Key", gwKeyAlice, "Idempotency-Key", "order-attempt-1")
		if code != http.StatusUnprocessableEntity {
			t.Errorf("POST reusing a key with another body = %d %q, want 422", code, body)
		}
	})

	t.Run("absurd key is 400", func(t *testing.T) {
		code, _, body := post(t, e.public+"/api/orders", order,
			"X-API-Key", gwKeyAlice, "Idempotency-Key", strings.Repeat("k", 1000))
		if code != http.StatusBadRequest {
			t.Errorf("POST with a 1000-byte Idempotency-Key = %d %q, want 400", code, body)
		}
	})

	t.Run("missing scope is 403", func(t *testing.T) {
		code, h, body := post(t, e.public+"/api/orders", order, "X-API-Key", gwKeyBob)
		if code != http.StatusForbidden || h.Get("WWW-Authenticate") == "" {
			t.Errorf("POST /api/orders without the scope = %d %q, WWW-Authenticate %q; want 403 and a challenge",
				code, body, h.Get("WWW-Authenticate"))
		}
	})

	t.Run("sighup rotates keys", func(t *testing.T) {
		writeFile(t, dir, "api.keys", apiKeyFile(t, []string{gwKeyCarol, "carol"}), 0o600)
		from := e.stderr.len()
		e.signal(t, syscall.SIGHUP)
		e.stderr.wait(t, from, "msg=reloaded")
		if code, _, _ := get(t, e.public+"/debug/headers", "X-API-Key", gwKeyAlice); code != http.StatusUnauthorized {
			t.Errorf("GET with a rotated-out key = %d, want 401", code)
		}
		code, _, body := get(t, e.public+"/debug/headers", "X-API-Key", gwKeyCarol)
		if code != http.StatusOK || echoedHeaders(t, body).Get("X-Edged-Auth-Sub") != "carol" {
			t.Errorf("GET with the new key = %d %q, want 200 as carol", code, body)
		}
	})
}
