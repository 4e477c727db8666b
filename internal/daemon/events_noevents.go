//go:build noevents

package daemon

import (
	"context"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/router"
)

// This build has no events engine (-tags noevents): internal/config refuses
// a file that needs one (config.ErrEventsNotBuilt), so env.events stays nil
// and none of what follows is ever given an engine.

// eventsEngine stands for the engine a build with events has; never created.
type eventsEngine struct{}

// eventMetrics stands for the engine's metrics; never created.
type eventMetrics struct{}

// startEvents refuses a file that needs events, should one get this far.
func (d *Daemon) startEvents(_ context.Context, cfg *config.Config) error {
	if cfg.Events != nil {
		return config.ErrEventsNotBuilt
	}
	return nil
}

// startTriggers has no triggers to start.
func (d *Daemon) startTriggers(context.Context, *config.Config, *router.World) error { return nil }

// publisher and enqueuer are never built without an engine; they refuse.
type publisher struct{ srv *eventsEngine }

// Publish implements isolate.Publisher.
func (publisher) Publish(context.Context, string, string, []byte) error {
	return config.ErrEventsNotBuilt
}

type enqueuer struct{ srv *eventsEngine }

// Enqueue implements router.Enqueuer.
func (enqueuer) Enqueue(context.Context, string, *router.EnqueuedEvent) error {
	return config.ErrEventsNotBuilt
}

// eventStatus: no engine for the admin API, which answers 501.
func (d *Daemon) eventStatus() admin.EventsEngine { return nil }

// eventsNeedRestart refuses a reload to a file that needs events.
func eventsNeedRestart(_ env, cfg *config.Config) error {
	if cfg.Events != nil {
		return config.ErrEventsNotBuilt
	}
	return nil
}

// warnEventsRestartOnly has nothing to warn about.
func (d *Daemon) warnEventsRestartOnly(_, _ *config.Config) {}
