package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/strangler"
	"github.com/edged/edged/strangler/migrate"
)

// plans converts the file's [routes.migration] blocks into strangler plans.
func plans(cfg *config.Config) (map[string]strangler.Plan, error) {
	out := map[string]strangler.Plan{}
	var errs []error
	for i, r := range cfg.Routes {
		m := r.Migration
		if m == nil {
			continue
		}
		p := strangler.Plan{
			Start:           strangler.StageCanary,
			Steps:           m.Steps,
			Interval:        m.Interval.Std(),
			MinRequests:     max(m.MinRequests, 1),
			MaxErrorRate:    m.MaxErrorRate,
			MaxLatencyRatio: m.MaxLatencyRatio,
			MaxMismatchRate: m.MaxMismatchRate,
		}
		if m.Start == config.StageShadow {
			p.Start = strangler.StageShadow
		}
		if m.OnFailure == "pause" {
			p.OnFailure = strangler.FailPause
		}
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("routes[%d].migration: %w", i, err))
			continue
		}
		out[r.Name] = p
	}
	return out, errors.Join(errs...)
}

// controllerTick is how often the migration controller judges the gates: a
// tenth of the shortest step interval, between 100ms and 1s, so that a step
// is promoted close to when its interval ends.
func controllerTick(ps map[string]strangler.Plan) time.Duration {
	tick := time.Second
	for _, p := range ps {
		tick = min(tick, p.Interval/10)
	}
	return max(tick, 100*time.Millisecond)
}

// loadState reads the persisted migration progress and applies it to the
// routes of the file. A corrupt state file is set aside, reported loudly,
// and the routes with a plan start safe (see migrate.ApplyState); any other
// error stops the start, since guessing could send users to an unproven
// isolate.
func loadState(store *migrate.Store, routes []strangler.Route, ps map[string]strangler.Plan, log *slog.Logger) ([]strangler.Route, migrate.State, error, error) {
	st, err := store.Load()
	switch {
	case errors.Is(err, migrate.ErrCorruptState):
		log.Error("migration state is corrupt: routes with a migration start in legacy (or shadow), paused; resume them when you have checked them",
			"err", err)
		return migrate.ApplyState(routes, ps, st, true), st, err, nil
	case err != nil:
		return nil, st, nil, err
	}
	return migrate.ApplyState(routes, ps, st, false), st, nil, nil
}

// durable waits until the table's changes are saved, for at most 5s.
func durable(p *migrate.Persister) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return p.WaitSaved(ctx)
	}
}
