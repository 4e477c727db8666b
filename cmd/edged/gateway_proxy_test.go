package main

import (
	"fmt"
	"net/http"
	"syscall"
	"testing"

	"github.com/edged/edged/idempotency"
)

// proxyGatewayConfig puts edged behind a trusted load balancer (the test itself,
// on loopback) with a per-client rate limit and idempotency keys.
func proxyGatewayConfig(b *binaries, upstream, rate string) string {
	return daemonTOML(b, `forwarded_for = "append"`, `trusted_proxies = ["127.0.0.1", "::1"]`) + fmt.Sprintf(`

[upstreams.monolith]
url = %[1]q

[[routes]]
name = "hello"
path = "/hello"
stage = "legacy"
upstream = "monolith"

  [routes.rate_limit]
  rate = %[2]q
  burst = 2

[[routes]]
name = "orders"
path = "/api/orders"
stage = "legacy"
upstream = "monolith"

  [routes.idempotency]
  enabled = true
  ttl = "1h"
`, upstream, rate)
}

// TestGatewayBehindProxy checks, on a running edged behind a trusted proxy, that
// rate limits count the client X-Forwarded-For names (and not what a client
// writes further left), and that a reload keeps buckets and stored idempotent
// answers while their settings are unchanged: a duplicate delivered after a
// SIGHUP is replayed, not run again.
func TestGatewayBehindProxy(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	_, monoURL := startMonolithProc(t, b)
	cfgPath := writeFile(t, dir, "router.toml", proxyGatewayConfig(b, monoURL, "1/h"), 0o644)
	writeFile(t, dir, "admin.token", "admin-token-for-tests\n", 0o600)
	e := startEdged(t, b, nil, "serve", "-config", cfgPath)

	hello := func(xff string) int {
		code, _, _ := get(t, e.public+"/hello", "X-Forwarded-For", xff)
		return code
	}
	t.Run("each forwarded client has its own bucket", func(t *testing.T) {
		got := []int{hello("203.0.113.1"), hello("203.0.113.1"), hello("203.0.113.1"), hello("203.0.113.2")}
		want := []int{200, 200, 429, 200}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("statuses %v, want %v", got, want)
		}
	})
	t.Run("forged left entries do not escape the limit", func(t *testing.T) {
		if code := hello("198.51.100.77, 203.0.113.1"); code != http.StatusTooManyRequests {
			t.Errorf("spoofed X-Forwarded-For = %d, want 429", code)
		}
	})

	const order = `{"item":"widget","qty":1}`
	c1, _, b1 := post(t, e.public+"/api/orders", order, "Idempotency-Key", "across-reload")
	if c1 != http.StatusCreated {
		t.Fatalf("POST /api/orders = %d %q", c1, b1)
	}
	from := e.stderr.len()
	e.signal(t, syscall.SIGHUP)
	e.stderr.wait(t, from, "msg=reloaded")

	t.Run("a duplicate after a reload is replayed", func(t *testing.T) {
		c2, h2, b2 := post(t, e.public+"/api/orders", order, "Idempotency-Key", "across-reload")
		if c2 != http.StatusCreated || b2 != b1 || h2.Get(idempotency.ReplayedHeader) != "true" {
			t.Errorf("duplicate after SIGHUP = %d %q (replayed %q), want the first answer %q replayed",
				c2, b2, h2.Get(idempotency.ReplayedHeader), b1)
		}
	})
	t.Run("buckets survive a reload", func(t *testing.T) {
		if code := hello("203.0.113.1"); code != http.StatusTooManyRequests {
			t.Errorf("exhausted client after SIGHUP = %d, want 429", code)
		}
	})
	t.Run("a changed limit starts afresh", func(t *testing.T) {
		writeFile(t, dir, "router.toml", proxyGatewayConfig(b, monoURL, "2/h"), 0o644)
		from := e.stderr.len()
		e.signal(t, syscall.SIGHUP)
		e.stderr.wait(t, from, "msg=reloaded")
		if code := hello("203.0.113.1"); code != http.StatusOK {
			t.Errorf("client after the limit changed = %d, want 200", code)
		}
	})
}
