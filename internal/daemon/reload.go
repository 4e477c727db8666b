package daemon

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"time"

	"github.com/edged/edged/internal/config"
)

// Reload re-reads the configuration file and applies it: a new generation built
// off to the side by the same path as the first, installed with its routes in one
// atomic swap (keeping the run-time migration state of unchanged routes, see
// mergeRoutes), and the replaced generation cleaned up after retireGrace. On any
// error every problem is logged and the running configuration stays as it was. It
// is the admin API's Reload and runs on SIGHUP; calls are serialised.
func (d *Daemon) Reload(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.done:
		return errors.New("reload: shutting down")
	default:
	}
	start := time.Now()
	cfg, err := config.Load(d.o.ConfigPath)
	if err != nil {
		d.logProblems("reload: invalid configuration", err)
		return err
	}
	d.warnRestartOnly(cfg)
	g, err := newGeneration(ctx, d.env, cfg, d.gen)
	if err != nil {
		d.logProblems("reload: cannot build the new configuration", err)
		return err
	}
	if err := d.install(g); err != nil {
		g.cleanup(ctx)
		d.logProblems("reload: the router refused the new configuration", err)
		return err
	}
	d.o.Logger.Info("reloaded", "functions", len(g.world.Functions), "upstreams", len(g.world.Upstreams),
		"routes", len(g.routes), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// install swaps g in for the installed generation, routes and World in one step
// (router.Server.Install), hands its plans to the migration controller and
// retires the generation it replaced. Called with d.mu held.
func (d *Daemon) install(g *generation) error {
	routes, err := mergeRoutes(d.gen.cfg, g.cfg, d.table.Routes())
	if err != nil {
		return err
	}
	if _, err := d.server.Install(routes, g.world); err != nil {
		return err
	}
	old := d.gen
	d.gen = g
	d.world.Store(g.world)
	d.ctrl.SetPlans(g.plans)
	d.rec.apply(g.cfg)
	d.plansNow.Store(&g.plans)
	if d.fleet != nil {
		// The fleet's state applies to the new routes where their plan is
		// the one it belongs to (a changed plan starts from router.toml, as
		// in file mode, until a change is made to it).
		d.fleet.Resync()
	}
	d.retire(old)
	return nil
}

// retire cleans up g once requests that may have picked up its World before the
// swap are done: after retireGrace, or at once at shutdown (after the server has
// drained).
func (d *Daemon) retire(g *generation) {
	d.retiring.Go(func() {
		t := time.NewTimer(retireGrace)
		defer t.Stop()
		select {
		case <-t.C:
		case <-d.done:
		}
		g.cleanup(context.Background())
	})
}

// logProblems logs every line of err (config errors are joined, one per line) as its
// own record, so that each problem is visible in structured logs.
func (d *Daemon) logProblems(msg string, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			d.o.Logger.Error(msg, "problem", line)
		}
	}
}

// warnRestartOnly logs the changes a reload cannot apply: the listeners, the server's
// limits, the runtime and the admin token are set up once per process. Called with
// d.mu held.
func (d *Daemon) warnRestartOnly(next *config.Config) {
	prev := d.gen.cfg
	// trusted_proxies lives in the World and changes on reload; drain_delay and
	// shutdown_timeout are read from the configuration applied last when
	// SIGTERM comes.
	ps, ns := prev.Server, next.Server
	ps.TrustedProxies, ns.TrustedProxies = nil, nil
	ps.DrainDelay, ns.DrainDelay = 0, 0
	ps.ShutdownTimeout, ns.ShutdownTimeout = 0, 0
	log := d.o.Logger
	if !reflect.DeepEqual(ps, ns) {
		log.Warn("reload: [server] changes take effect at the next restart")
	}
	if prev.Admin != next.Admin {
		log.Warn("reload: [admin] changes take effect at the next restart")
	}
	if prev.Runtime != next.Runtime {
		log.Warn("reload: [runtime] changes take effect at the next restart")
	}
	d.warnEventsRestartOnly(prev, next)
	if prev.Fleet != next.Fleet {
		log.Warn("reload: [fleet] changes take effect at the next restart")
	}
}
