//go:build !noevents

package daemon

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edged/edged/limits/fleetrate"
	"github.com/edged/edged/router"
)

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

// fleetRateMetrics reports the sync traffic of every fleet-scoped limiter of
// the installed World when scraped: a growing sync_failures_total means the
// node is limiting alone (per node, up to N times the rate).
type fleetRateMetrics struct {
	world                    *atomic.Pointer[router.World]
	published, heard, failed *prometheus.Desc
}

func newFleetRateMetrics(world *atomic.Pointer[router.World]) *fleetRateMetrics {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("edged_ratelimit_fleet_"+name, help, []string{"route"}, nil)
	}
	return &fleetRateMetrics{
		world:     world,
		published: desc("published_total", "Spending increments this node published for a route with scope = \"fleet\" (one per client per sync)."),
		heard:     desc("heard_total", "Other nodes' spending increments this node applied to its buckets."),
		failed:    desc("sync_failures_total", "Syncs whose spending was dropped because NATS did not take it: the node limited alone meanwhile."),
	}
}

// Describe implements prometheus.Collector.
func (m *fleetRateMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.published
	ch <- m.heard
	ch <- m.failed
}

// Collect implements prometheus.Collector. A limiter replaced by a reload
// starts again from 0, which Prometheus reads as a counter reset.
func (m *fleetRateMetrics) Collect(ch chan<- prometheus.Metric) {
	w := m.world.Load()
	if w == nil {
		return
	}
	for route, o := range w.Routes {
		l, ok := o.RateLimit.(*fleetrate.Limiter)
		if !ok {
			continue
		}
		s := l.Stats()
		ch <- prometheus.MustNewConstMetric(m.published, prometheus.CounterValue, float64(s.Published), route)
		ch <- prometheus.MustNewConstMetric(m.heard, prometheus.CounterValue, float64(s.Heard), route)
		ch <- prometheus.MustNewConstMetric(m.failed, prometheus.CounterValue, float64(s.Failed), route)
	}
}
