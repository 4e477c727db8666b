package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/events"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/limits/fleetrate"
	"github.com/edged/edged/router"
)

// TestRouteOptionsFleetScope checks that scope = "fleet" builds a fleet limiter
// on the events connection (a real embedded NATS server), that a reload keeps it
// while the table is unchanged, that scope = "node" (and the unset scope of a
// Route built in code) builds a node limiter, and that a fleet scope without a
// connection is an error, not a silent per-node limit.
func TestRouteOptionsFleetScope(t *testing.T) {
	ctx := context.Background()
	srv, err := events.Open(ctx, events.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(ctx) })
	fleet := newFleetLimiters(srv.JetStream(), slog.New(slog.DiscardHandler))

	fleetRoute := config.Route{Name: "orders", RateLimit: &config.RateLimit{Rate: "10/s", Burst: 5, Key: "ip",
		Scope: config.RateScopeFleet, SyncInterval: limits.Duration(100 * time.Millisecond)}}
	first, err := routeOptions(fleetRoute, previous{}, fleet, nil)
	if err != nil {
		t.Fatal(err)
	}
	fl, ok := first.RateLimit.(*fleetrate.Limiter)
	if !ok {
		t.Fatalf("scope = fleet built a %T, want *fleetrate.Limiter", first.RateLimit)
	}
	if fl.Burst() != 5 || fl.Rate() != (limits.Rate{Events: 10, Per: time.Second}) {
		t.Errorf("fleet limiter rate %v burst %d, want 10/s and 5", fl.Rate(), fl.Burst())
	}
	prev := previous{
		cfg: &config.Config{Routes: []config.Route{fleetRoute}},
		w:   &router.World{Routes: map[string]router.RouteOptions{"orders": first}},
	}
	again, err := routeOptions(fleetRoute, prev, fleet, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.RateLimit != first.RateLimit {
		t.Error("a reload with the same [routes.rate_limit] built a new fleet limiter, want the running one kept")
	}

	for _, scope := range []string{config.RateScopeNode, ""} {
		r := fleetRoute
		r.RateLimit = &config.RateLimit{Rate: "10/s", Burst: 5, Key: "ip", Scope: scope}
		o, err := routeOptions(r, previous{}, fleet, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := o.RateLimit.(*limits.Limiter); !ok {
			t.Errorf("scope %q built a %T, want *limits.Limiter", scope, o.RateLimit)
		}
	}

	o, err := routeOptions(fleetRoute, previous{}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "fleet") || o.RateLimit != nil {
		t.Errorf("scope = fleet without a connection: limiter %v, error %v; want no limiter and an error", o.RateLimit, err)
	}
}

// fleetDaemonConfig is a daemon serving the C hello guest on /hello with a
// fleet rate limit of a burst of 3 and one request an hour per client,
// synced every 10ms. events is its [events] table.
func fleetDaemonConfig(t *testing.T, events string) string {
	return routerTOML{Events: events, Body: fmt.Sprintf(`
[functions.hello]
module = %q

[[routes]]
name = "hello"
path = "/hello"
stage = "retired"
function = "hello"

  [routes.rate_limit]
  rate = "1/h"
  burst = 3
  scope = "fleet"
  sync_interval = "10ms"
`, helloWasm(t))}.String()
}

// TestFleetRateLimitTwoDaemons runs two edged daemons sharing one NATS server
// (node A's embedded one, listening on loopback; node B connects to it) and a
// client over real HTTP: the 3 requests of the burst go to A, after which B
// refuses the client too, where per node it would admit 3 more.
func TestFleetRateLimitTwoDaemons(t *testing.T) {
	a, _ := startDaemon(t, fleetDaemonConfig(t, `store_dir = "events"
listen = "127.0.0.1:0"`))
	b, _ := startDaemon(t, fleetDaemonConfig(t, fmt.Sprintf("url = %q", a.env.events.ClientURL())))
	c := &http.Client{Timeout: 10 * time.Second}
	get := func(d *Daemon) int {
		t.Helper()
		resp, err := c.Get(d.PublicURL() + "/hello")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 3 {
		if got := get(a); got != http.StatusOK {
			t.Fatalf("node A, request %d of the burst: %d, want 200", i, got)
		}
	}
	if got := get(a); got != http.StatusTooManyRequests {
		t.Fatalf("node A past the burst: %d, want 429", got)
	}
	// A's spending goes out in 1 or 2 increments (a sync may fall between
	// its requests): publish what is left now, so A's count is final, then
	// poll B's limiter under a deadline until it has heard every increment.
	// Waiting for the first only let B answer between the two.
	limiterOf := func(d *Daemon, node string) *fleetrate.Limiter {
		t.Helper()
		l, ok := d.world.Load().Routes["hello"].RateLimit.(*fleetrate.Limiter)
		if !ok {
			t.Fatalf("node %s's limiter is a %T, want *fleetrate.Limiter", node, d.world.Load().Routes["hello"].RateLimit)
		}
		return l
	}
	la, lb := limiterOf(a, "A"), limiterOf(b, "B")
	if err := la.Sync(); err != nil {
		t.Fatalf("node A's sync: %v", err)
	}
	published := la.Stats().Published
	for deadline := time.Now().Add(10 * time.Second); lb.Stats().Heard < published; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("node B heard %d of node A's %d increments", lb.Stats().Heard, published)
		}
	}
	if got := get(b); got != http.StatusTooManyRequests {
		t.Errorf("node B after hearing that A spent the client's fleet burst: %d, want 429 (per node it would admit 3)", got)
	}
	// A's 3 requests are 1 increment, or 2 if a sync fell between them.
	m := scrape(t, b)
	for _, want := range []string{`(?m)^edged_ratelimit_fleet_heard_total\{route="hello"\} [12]$`,
		`(?m)^edged_ratelimit_fleet_sync_failures_total\{route="hello"\} 0$`} {
		if !regexp.MustCompile(want).MatchString(m) {
			t.Errorf("node B's /metrics does not match %s", want)
		}
	}
}
