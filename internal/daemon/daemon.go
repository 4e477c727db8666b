package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/router"
	"github.com/edged/edged/strangler"
	"github.com/edged/edged/strangler/migrate"
)

// retireGrace is how long a replaced generation stays open after a reload, for
// requests that picked up its World just before the swap. Requests already inside
// a function or an upstream finish even after it is closed; this only covers the
// gap between choosing the World and calling into it.
const retireGrace = 5 * time.Second

// Options configures a Daemon.
type Options struct {
	// ConfigPath is the configuration file, read at New and at every reload.
	ConfigPath string
	// Logger receives the daemon's logs; nil discards them.
	Logger *slog.Logger
	// Dev makes missing secrets a warning instead of an error, and skips the
	// drain delay (edged dev).
	Dev bool
	// Version is the service.version of exported spans.
	Version string
	// OnReady, if set, is called once both listeners accept.
	OnReady func(Ready)
	// SpareP, set by the edged command (the process owner), gives the Go
	// scheduler one P more than the guest execution slots while the daemon
	// runs, when [runtime] max_concurrent_executions is 0 and the GOMAXPROCS
	// environment variable is unset: guests spinning in every slot then never
	// hold the P that the network poller and the request handlers need
	// (RATIONALE.md, "Concurrency is bounded at about the core count").
	// GOMAXPROCS is process state, so an embedder leaves this off.
	SpareP bool
}

// Ready describes a daemon that has started serving.
type Ready struct {
	// Public and Admin are base URLs a person can open (an unspecified listen
	// host reads as 127.0.0.1).
	Public, Admin string
	// Config is the configuration as loaded; Routes the routes as installed,
	// with the migration progress saved by the previous run.
	Config *config.Config
	Routes []strangler.Route
}

// Daemon is one running edged: the runtime, table, server and admin API that live
// as long as the process, and the configuration generation currently installed.
// Create it with New, then call Serve once.
type Daemon struct {
	o     Options
	env   env
	start time.Time
	hup   chan os.Signal
	ready atomic.Bool
	stack stack // what New set up, undone by Serve's end or a failed New

	table     *strangler.Table
	server    *router.Server
	evMetrics *eventMetrics // the events engine's Observer; nil without one
	ctrl      *migrate.Controller
	persister *migrate.Persister
	rec       *recorders
	fleet     *fleetState // nil unless [fleet] state = "nats"
	lead      fleetLeader // this node's candidacy to run the fleet's controller
	plansNow  atomic.Pointer[map[string]strangler.Plan]
	admin     *http.Server
	ln, aln   net.Listener

	mu       sync.Mutex                   // serialises reloads (SIGHUP and POST /v1/reload) and shutdown
	gen      *generation                  // installed; guarded by mu
	world    atomic.Pointer[router.World] // gen's World, for triggers, which run outside requests
	retiring sync.WaitGroup               // goroutines cleaning up replaced generations
	done     chan struct{}                // closed at shutdown: clean up replaced generations now
}

// Run is New then Serve: it serves until ctx is cancelled (SIGTERM, SIGINT), then
// drains and returns nil. It returns an error if the configuration or anything it
// names cannot be set up, or if a listener fails while serving.
func Run(ctx context.Context, o Options) error {
	d, err := New(ctx, o)
	if err != nil {
		return err
	}
	return d.Serve(ctx)
}

// New loads the configuration, provisions its generation, opens the routing table
// with the saved migration progress, and listens on both addresses. On error
// everything set up so far is undone.
func New(ctx context.Context, o Options) (*Daemon, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{o: o, start: time.Now(), done: make(chan struct{})}
	if err := d.setup(ctx); err != nil {
		d.stack.run()
		return nil, err
	}
	return d, nil
}

// setup is New's work; each step pushes its own cleanup on d.stack.
func (d *Daemon) setup(ctx context.Context) error {
	// Catch SIGHUP from the start: its default action would kill the process. A
	// SIGHUP that arrives before serving begins is applied as a reload then.
	d.hup = make(chan os.Signal, 1)
	signal.Notify(d.hup, syscall.SIGHUP)
	d.stack.push(func() { signal.Stop(d.hup) })

	// Before anything opens a file: every connection will hold one.
	raiseOpenFiles(d.o.Logger)

	path := d.o.ConfigPath
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	token, err := readToken(cfg.Admin.TokenFile)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := d.startRuntime(ctx, cfg); err != nil {
		return err
	}
	if err := d.startEvents(ctx, cfg); err != nil {
		return err
	}
	g, err := newGeneration(ctx, d.env, cfg, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	d.gen = g
	d.world.Store(g.world)
	d.stack.push(d.cleanupGenerations)
	if err := d.startRouting(ctx, g); err != nil {
		return err
	}
	if err := d.startTriggers(ctx, cfg, g.world); err != nil {
		return err
	}
	return d.listen(cfg, token)
}

// startRuntime creates the isolate runtime, which outlives every generation:
// closing it also closes any function left.
func (d *Daemon) startRuntime(ctx context.Context, cfg *config.Config) error {
	if err := ensureCacheDir(cfg.Runtime.CacheDir); err != nil {
		return err
	}
	log := d.o.Logger
	slots := cfg.Runtime.MaxConcurrentExecutions
	if slots == 0 && d.o.SpareP && os.Getenv("GOMAXPROCS") == "" {
		slots = runtime.GOMAXPROCS(0)
		runtime.GOMAXPROCS(slots + 1)
		d.stack.push(func() { runtime.GOMAXPROCS(slots) })
	}
	rt, err := isolate.NewRuntime(ctx, isolate.RuntimeOptions{
		CacheDir:      cfg.Runtime.CacheDir,
		MaxConcurrent: slots,
		Logger:        log.With("component", "isolate"),
	})
	if err != nil {
		return fmt.Errorf("start runtime: %w", err)
	}
	d.stack.push(func() { rt.Close(context.WithoutCancel(ctx)) })
	d.env = env{rt: rt, log: log, dev: d.o.Dev, version: d.o.Version}
	return nil
}

// startRouting installs the first generation: the table with the saved migration
// progress applied, the server, and the migration controller and state writer,
// which run until shutdown (the writer saves once more after the server drained).
func (d *Daemon) startRouting(ctx context.Context, g *generation) error {
	log := d.o.Logger
	store, err := migrate.OpenStore(g.cfg.Runtime.StateDir)
	if err != nil {
		return err
	}
	routes, saved, corrupt, err := loadState(store, g.routes, g.plans, log)
	if err != nil {
		return err
	}
	if d.table, err = strangler.NewTable(routes); err != nil {
		return fmt.Errorf("routing table: %w", err)
	}
	d.table.RestoreEvents(saved.Events)
	if corrupt != nil {
		d.table.Record(strangler.Event{Kind: "state_corrupt", Actor: strangler.ActorConfig, Reason: corrupt.Error()})
	}
	var access *slog.Logger
	if g.cfg.Server.AccessLog {
		access = log.With("component", "access")
	}
	d.server, err = router.NewServer(router.Config{
		Table: d.table, Logger: log.With("component", "router"), AccessLog: access, Server: serverOptions(g.cfg),
	}, g.world)
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	d.rec = newRecorders(d.server, d.config, log.With("component", "record"))
	d.rec.apply(g.cfg)
	d.stack.push(func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordFlushTimeout)
		defer cancel()
		if err := d.rec.closeAll(fctx); err != nil {
			log.Warn("flushing the corpus files", "err", err)
		}
	})
	d.plansNow.Store(&g.plans)
	if err := d.startFleet(ctx, g.cfg); err != nil {
		return err
	}
	// In a fleet the controller's decisions are compare-and-swap writes to
	// the fleet's state (d.mover), made with Transition.Expect, so no step
	// is taken twice; and only the elected leader runs it, for its term, on
	// every node's gate windows (runFleetController). A node alone runs it
	// on its own router's numbers.
	d.ctrl = migrate.NewController(d.table, d.server, migrate.ControllerOptions{
		Logger: log.With("component", "migrations"), Mover: d.mover(),
	})
	d.ctrl.SetPlans(g.plans)
	d.persister = migrate.NewPersister(d.table, store, d.plans,
		func(err error) { log.Error("saving migration state", "err", err) })
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	if d.fleet != nil {
		node := fleetNode(g.cfg)
		wg.Go(func() { d.runFleetController(bg, node, controllerTick(g.plans)) })
	} else {
		wg.Go(func() { d.ctrl.Run(bg, controllerTick(g.plans)) })
	}
	wg.Go(func() { d.persister.Run(bg) })
	d.stack.push(func() { stop(); wg.Wait() })
	return nil
}

// plans returns the migration plans of the installed generation, for the
// state writer.
func (d *Daemon) plans() map[string]strangler.Plan {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gen.plans
}

// listen builds the admin API and opens both listeners.
func (d *Daemon) listen(cfg *config.Config, token []byte) error {
	log := d.o.Logger
	api, err := admin.New(admin.Config{
		Controller: d.ctrl,
		Mover:      d.mover(),
		Fleet:      d.fleetView(),
		Durable:    durable(d.persister),
		Table:      d.table,
		Server:     d.server,
		Token:      token,
		Reload:     d.Reload,
		Ready:      d.ready.Load,
		Logger:     log.With("component", "admin"),
		Pricing:    pricing(cfg.Pricing),
		Events:     d.eventStatus(),
		Recorder:   d.rec,
	})
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	if d.ln, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	d.stack.push(func() { d.ln.Close() })
	if d.aln, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
		return fmt.Errorf("admin.listen: %w", err)
	}
	d.stack.push(func() { d.aln.Close() })
	d.admin = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// POST /v1/reload compiles modules, which can take a while on a cold cache.
		WriteTimeout: 2 * time.Minute,
		IdleTimeout:  60 * time.Second,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return nil
}

// PublicURL and AdminURL are the base URLs of the two listeners (an unspecified
// host reads as 127.0.0.1).
func (d *Daemon) PublicURL() string { return baseURL(d.ln.Addr()) }

// AdminURL is the base URL of the admin listener; see PublicURL.
func (d *Daemon) AdminURL() string { return baseURL(d.aln.Addr()) }

// Serve serves until ctx is cancelled, reloading on SIGHUP, then drains and
// cleans up everything New set up. It returns nil after a cancel, or the error
// of a listener that failed.
func (d *Daemon) Serve(ctx context.Context) error {
	defer d.stack.run()
	errc := make(chan error, 2)
	go func() {
		if err := d.server.Serve(d.ln); err != nil {
			errc <- fmt.Errorf("serve %s: %w", d.ln.Addr(), err)
		}
	}()
	go func() {
		if err := d.admin.Serve(d.aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin %s: %w", d.aln.Addr(), err)
		}
	}()
	d.ready.Store(true)
	cfg := d.config()
	d.o.Logger.Info("edged ready", "listen", d.ln.Addr().String(), "admin", d.aln.Addr().String(),
		"functions", len(cfg.Functions), "upstreams", len(cfg.Upstreams), "routes", len(cfg.Routes),
		"startup", time.Since(d.start).Round(time.Millisecond))
	if d.o.OnReady != nil {
		d.o.OnReady(Ready{Public: d.PublicURL(), Admin: d.AdminURL(), Config: cfg, Routes: d.table.Routes()})
	}
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case serveErr = <-errc:
			break loop
		case <-d.hup:
			if err := d.Reload(ctx); err != nil {
				d.o.Logger.Error("reload failed; keeping the running configuration")
			}
		}
	}
	d.shutdown(ctx, serveErr)
	return serveErr
}

// shutdown drains: /readyz says 503 at once, but the listener and keep-alive
// connections stay up for drain_delay, so that a load balancer sees the 503 and
// takes edged out of rotation before a connection is refused. Then it stops
// accepting and lets in-flight requests finish within shutdown_timeout.
func (d *Daemon) shutdown(ctx context.Context, serveErr error) {
	log := d.o.Logger
	d.ready.Store(false)
	srv := d.config().Server
	if delay := srv.DrainDelay.Std(); delay > 0 && !d.o.Dev && serveErr == nil {
		d.drainDelay(delay)
	}
	log.Info("shutting down", "timeout", srv.ShutdownTimeout.Std())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), srv.ShutdownTimeout.Std())
	defer cancel()
	if err := d.server.Shutdown(sctx); err != nil {
		log.Warn("shutdown did not drain every request", "err", err)
	}
	if err := d.admin.Shutdown(sctx); err != nil {
		d.admin.Close()
	}
}

// cleanupGenerations, at shutdown, refuses further reloads, then cleans up the
// replaced generations and the installed one.
func (d *Daemon) cleanupGenerations() {
	d.mu.Lock()
	close(d.done)
	last := d.gen
	d.mu.Unlock()
	d.retiring.Wait()
	last.cleanup(context.Background())
	d.o.Logger.Info("stopped")
}

// drainDelay keeps serving, not ready, for delay; a second SIGTERM or SIGINT
// ends the wait early (an operator who means "now").
func (d *Daemon) drainDelay(delay time.Duration) {
	again := make(chan os.Signal, 1)
	signal.Notify(again, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(again)
	d.o.Logger.Info("draining: /readyz answers 503, still serving", "drain_delay", delay)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-again:
		d.o.Logger.Info("second signal: draining now")
	}
}

// config returns the configuration as last applied.
func (d *Daemon) config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gen.cfg
}
