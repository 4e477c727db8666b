package daemon

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/limits/fleetrate"
	"github.com/edged/edged/router"
)

// fleetLimiters builds the limiter of a route whose [routes.rate_limit] has
// scope = "fleet". nil means the daemon has no NATS connection to share
// buckets over.
type fleetLimiters func(fleetrate.Options) (router.RateLimiter, error)

// fleetOpenTimeout bounds preparing the fleet's rate limit stream and bucket.
const fleetOpenTimeout = 10 * time.Second

// newFleetLimiters returns the fleetLimiters of js: the fleet's rate limit
// state (fleetrate.Open) is prepared on the first call, so a daemon without a
// fleet-scoped route creates nothing in JetStream, and shared by the later
// ones. A limiter replaced by a reload needs no closing: fleetrate stops it
// once it is collected.
func newFleetLimiters(js jetstream.JetStream, log *slog.Logger) fleetLimiters {
	var (
		mu    sync.Mutex
		fleet *fleetrate.Fleet
	)
	return func(o fleetrate.Options) (router.RateLimiter, error) {
		mu.Lock()
		defer mu.Unlock()
		if fleet == nil {
			ctx, cancel := context.WithTimeout(context.Background(), fleetOpenTimeout)
			defer cancel()
			f, err := fleetrate.Open(ctx, js, fleetrate.FleetOptions{Logger: log})
			if err != nil {
				return nil, err
			}
			fleet = f
		}
		l, err := fleet.NewLimiter(o)
		if err != nil {
			return nil, err
		}
		return l, nil
	}
}
