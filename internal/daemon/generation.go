package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/edged/edged/auth"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/router"
	"github.com/edged/edged/strangler"
)

// env is what every generation is built with: the parts that live as long as
// the process, and settings of the command line.
type env struct {
	rt      *isolate.Runtime
	log     *slog.Logger
	dev     bool   // a missing secret is a warning, not an error
	version string // service.version of exported spans
	// events is the events engine, nil when the file started with needs none.
	events *eventsEngine
	// fleetLimiters builds the rate limiters of scope = "fleet" over the
	// events connection; nil without one.
	fleetLimiters fleetLimiters
	// idempotency derives the routes' idempotency stores from the fleet's
	// shared bucket with [fleet] state = "nats"; nil keeps each route's keys
	// in this node's memory.
	idempotency sharedIdempotency
}

// generation is one configuration applied as a unit: the file, and the World,
// routes, plans and Authenticator built from it. Its life is provision,
// validate, install (one atomic swap, router.Server.Install), then cleanup once
// a newer generation has replaced it; cleanup also undoes a provision that
// failed halfway.
type generation struct {
	cfg    *config.Config
	auth   *auth.Authenticator // nil without [auth]; may be the previous generation's
	world  *router.World
	routes []strangler.Route // as the file gives them, before run-time state is merged in
	plans  map[string]strangler.Plan
}

// newGeneration provisions and validates the generation of cfg. prev, nil for the
// first, lends what a reload carries over: the Authenticator when [auth] did not
// change (its key files re-read) and the limiters and idempotency stores of
// unchanged routes. On error what was built is cleaned up.
func newGeneration(ctx context.Context, e env, cfg *config.Config, prev *generation) (*generation, error) {
	g := &generation{cfg: cfg}
	err := g.provision(ctx, e, prev)
	if err == nil {
		err = g.validate()
	}
	if err != nil {
		g.cleanup(ctx)
		return nil, err
	}
	return g, nil
}

// provision builds the generation's parts, stopping at the first that fails.
func (g *generation) provision(ctx context.Context, e env, prev *generation) error {
	if err := eventsNeedRestart(e, g.cfg); err != nil {
		return err
	}
	var err error
	if g.auth, err = g.authenticator(prev); err != nil {
		return err
	}
	if g.routes, err = tableRoutes(g.cfg); err != nil {
		return err
	}
	if g.plans, err = plans(g.cfg); err != nil {
		return err
	}
	g.world, err = buildWorld(ctx, e, g.cfg, g.auth, prev.previous())
	return err
}

// authenticator returns the Authenticator of g's [auth]: prev's with its key
// files re-read (key rotation; on error the old keys stay in use) when [auth]
// is unchanged, else a new one (nil without [auth]).
func (g *generation) authenticator(prev *generation) (*auth.Authenticator, error) {
	if prev != nil && prev.auth != nil && reflect.DeepEqual(prev.cfg.Auth, g.cfg.Auth) {
		if err := prev.auth.Reload(); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		return prev.auth, nil
	}
	return newAuthenticator(g.cfg.Auth)
}

// validate checks what installing g relies on: the table accepts the routes, and
// every function and upstream a route names is in the World, so that no request
// can match a route whose target is missing.
func (g *generation) validate() error {
	if _, err := strangler.NewTable(g.routes); err != nil {
		return fmt.Errorf("routing table: %w", err)
	}
	var errs []error
	for _, r := range g.routes {
		if r.Function != "" && g.world.Functions[r.Function] == nil {
			errs = append(errs, fmt.Errorf("route %q: function %q was not loaded", r.Name, r.Function))
		}
		if r.Upstream != "" && g.world.Upstreams[r.Upstream] == nil {
			errs = append(errs, fmt.Errorf("route %q: upstream %q was not opened", r.Name, r.Upstream))
		}
	}
	return errors.Join(errs...)
}

// cleanup closes what g opened: the World's functions, upstreams and span
// exporter. The Authenticator, limiters and idempotency stores hold nothing to
// close (and may live on in the next generation). It is safe on a generation
// whose provision failed, and on nil.
func (g *generation) cleanup(ctx context.Context) {
	if g == nil {
		return
	}
	closeWorld(context.WithoutCancel(ctx), g.world)
	g.world = nil
}

// previous is what buildWorld may take over from g; nothing for nil.
func (g *generation) previous() previous {
	if g == nil {
		return previous{}
	}
	return previous{cfg: g.cfg, w: g.world}
}
