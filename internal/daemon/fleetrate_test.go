package daemon

import (
	"context"
	"log/slog"
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
	first, err := routeOptions(fleetRoute, previous{}, fleet)
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
	again, err := routeOptions(fleetRoute, prev, fleet)
	if err != nil {
		t.Fatal(err)
	}
	if again.RateLimit != first.RateLimit {
		t.Error("a reload with the same [routes.rate_limit] built a new fleet limiter, want the running one kept")
	}

	for _, scope := range []string{config.RateScopeNode, ""} {
		r := fleetRoute
		r.RateLimit = &config.RateLimit{Rate: "10/s", Burst: 5, Key: "ip", Scope: scope}
		o, err := routeOptions(r, previous{}, fleet)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := o.RateLimit.(*limits.Limiter); !ok {
			t.Errorf("scope %q built a %T, want *limits.Limiter", scope, o.RateLimit)
		}
	}

	o, err := routeOptions(fleetRoute, previous{}, nil)
	if err == nil || !strings.Contains(err.Error(), "fleet") || o.RateLimit != nil {
		t.Errorf("scope = fleet without a connection: limiter %v, error %v; want no limiter and an error", o.RateLimit, err)
	}
}
