package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edged/edged/auth"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/router"
	"github.com/edged/edged/strangler"
)

// retireGrace is how long a replaced World stays open after a reload, for requests
// that picked it up just before the swap. Requests already inside a function or an
// upstream finish even after it is closed; this only covers the gap between choosing
// the World and calling into it.
const retireGrace = 5 * time.Second

// daemonOptions configures runDaemon.
type daemonOptions struct {
	ConfigPath string
	Logger     *slog.Logger
	// Stdout receives the "edged: serving ..." lines with the resolved addresses.
	Stdout io.Writer
	// Dev makes missing secrets a warning instead of an error.
	Dev bool
	// OnReady, if set, is called once both listeners accept, with the public and admin
	// base URLs and the routes as loaded.
	OnReady func(public, admin string, cfg *config.Config, routes []strangler.Route)
}

// daemon is one running edged: the runtime, table and server that live as long as
// the process, and the configuration generation currently applied.
type daemon struct {
	path   string
	dev    bool
	log    *slog.Logger
	rt     *isolate.Runtime
	table  *strangler.Table
	server *router.Server
	ready  atomic.Bool

	mu    sync.Mutex                // serialises reloads (SIGHUP and POST /v1/reload) and shutdown
	cfg   *config.Config            // the file as last applied; guarded by mu
	world *router.World             // the World installed in server; guarded by mu
	auth  *auth.Authenticator       // [auth] of cfg, shared by every World; nil without it; guarded by mu
	plans map[string]strangler.Plan // migration plans of cfg; guarded by mu

	ctrl *strangler.Controller

	retiring sync.WaitGroup // goroutines closing replaced Worlds
	done     chan struct{}  // closed at shutdown: close replaced Worlds now
}

// runDaemon serves until ctx is cancelled (SIGTERM, SIGINT), then drains and returns
// nil. It returns an error if the configuration or anything it names cannot be set
// up, or if a listener fails while serving.
func runDaemon(ctx context.Context, o daemonOptions) error {
	log := o.Logger
	// Catch SIGHUP from the start: its default action would kill the process. A
	// SIGHUP that arrives before serving begins is applied as a reload then.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		return err
	}
	token, err := readToken(cfg.Admin.TokenFile)
	if err != nil {
		return fmt.Errorf("%s: %w", o.ConfigPath, err)
	}
	if err := ensureCacheDir(cfg.Runtime.CacheDir); err != nil {
		return err
	}
	rt, err := isolate.NewRuntime(ctx, isolate.RuntimeOptions{
		CacheDir:      cfg.Runtime.CacheDir,
		MaxConcurrent: cfg.Runtime.MaxConcurrentExecutions,
		Logger:        log.With("component", "isolate"),
	})
	if err != nil {
		return fmt.Errorf("start runtime: %w", err)
	}
	// The runtime outlives every World: closing it also closes any function left.
	defer rt.Close(context.WithoutCancel(ctx))

	start := time.Now()
	auth, err := newAuthenticator(cfg.Auth)
	if err != nil {
		return err
	}
	world, err := buildWorld(ctx, rt, cfg, auth, o.Dev, log, previous{})
	if err != nil {
		return fmt.Errorf("%s: %w", o.ConfigPath, err)
	}
	routes, err := tableRoutes(cfg)
	if err != nil {
		closeWorld(ctx, world)
		return err
	}
	ps, err := plans(cfg)
	if err != nil {
		closeWorld(ctx, world)
		return err
	}
	store, err := strangler.OpenStore(cfg.Runtime.StateDir)
	if err != nil {
		closeWorld(ctx, world)
		return err
	}
	routes, saved, corrupt, err := loadState(store, routes, ps, log)
	if err != nil {
		closeWorld(ctx, world)
		return err
	}
	table, err := strangler.NewTable(routes)
	if err != nil {
		closeWorld(ctx, world)
		return fmt.Errorf("routing table: %w", err)
	}
	table.RestoreEvents(saved.Events)
	if corrupt != nil {
		table.Record(strangler.Event{Kind: "state_corrupt", Actor: strangler.ActorConfig, Reason: corrupt.Error()})
	}
	var access *slog.Logger
	if cfg.Server.AccessLog {
		access = log.With("component", "access")
	}
	srv, err := router.NewServer(router.Config{
		Table:     table,
		Logger:    log.With("component", "router"),
		AccessLog: access,
		Server:    serverOptions(cfg),
	}, world)
	if err != nil {
		closeWorld(ctx, world)
		return fmt.Errorf("router: %w", err)
	}
	ctrl := strangler.NewController(table, srv, strangler.ControllerOptions{Logger: log.With("component", "migrations")})
	ctrl.SetPlans(ps)
	d := &daemon{
		path: o.ConfigPath, dev: o.Dev, log: log, rt: rt, table: table, server: srv, cfg: cfg, world: world, auth: auth,
		done: make(chan struct{}), ctrl: ctrl, plans: ps,
	}
	// The controller and the state writer run until shutdown; the writer saves
	// once more after the server has drained.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var bgDone sync.WaitGroup
	bgDone.Go(func() { ctrl.Run(bg, controllerTick(ps)) })
	persister := d.newPersister(store)
	bgDone.Go(func() { persister.Run(bg) })
	defer func() { stopBG(); bgDone.Wait() }()
	admin, err := router.NewAdmin(router.AdminConfig{
		Controller: ctrl,
		Durable:    durable(persister),
		Table:      table,
		Server:     srv,
		Token:      token,
		Reload:     d.reload,
		Ready:      d.ready.Load,
		Logger:     log.With("component", "admin"),
		Pricing:    pricing(cfg.Pricing),
	})
	if err != nil {
		closeWorld(ctx, world)
		return fmt.Errorf("admin API: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		closeWorld(ctx, world)
		return fmt.Errorf("server.listen: %w", err)
	}
	aln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		ln.Close()
		closeWorld(ctx, world)
		return fmt.Errorf("admin.listen: %w", err)
	}
	adminSrv := &http.Server{
		Handler:           admin,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// POST /v1/reload compiles modules, which can take a while on a cold cache.
		WriteTimeout: 2 * time.Minute,
		IdleTimeout:  60 * time.Second,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	errc := make(chan error, 2)
	go func() {
		if err := srv.Serve(ln); err != nil {
			errc <- fmt.Errorf("serve %s: %w", ln.Addr(), err)
		}
	}()
	go func() {
		if err := adminSrv.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin %s: %w", aln.Addr(), err)
		}
	}()

	publicURL, adminURL := baseURL(ln.Addr()), baseURL(aln.Addr())
	d.ready.Store(true)
	log.Info("edged ready", "listen", ln.Addr().String(), "admin", aln.Addr().String(),
		"functions", len(world.Functions), "upstreams", len(world.Upstreams), "routes", len(routes),
		"startup", time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(o.Stdout, "edged: serving %s\nedged: admin %s\n", publicURL, adminURL)
	if o.OnReady != nil {
		o.OnReady(publicURL, adminURL, cfg, table.Routes())
	}

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			serveErr = err
			break loop
		case <-hup:
			if err := d.reload(ctx); err != nil {
				log.Error("reload failed; keeping the running configuration")
			}
		}
	}

	// Drain: /readyz says 503 at once, but the listener and keep-alive
	// connections stay up for drain_delay, so that a load balancer sees the 503
	// and takes edged out of rotation before a connection is refused. Then stop
	// accepting and let in-flight requests finish within shutdown_timeout.
	d.ready.Store(false)
	if delay := d.config().Server.DrainDelay.Std(); delay > 0 && !o.Dev && serveErr == nil {
		d.drainDelay(delay)
	}
	log.Info("shutting down", "timeout", d.config().Server.ShutdownTimeout.Std())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.config().Server.ShutdownTimeout.Std())
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown did not drain every request", "err", err)
	}
	if err := adminSrv.Shutdown(sctx); err != nil {
		adminSrv.Close()
	}
	// Serialise with a reload that may be running, then close every World.
	d.mu.Lock()
	close(d.done)
	last := d.world
	d.mu.Unlock()
	d.retiring.Wait()
	closeWorld(context.WithoutCancel(ctx), last)
	log.Info("stopped")
	return serveErr
}

// drainDelay keeps serving, not ready, for delay; a second SIGTERM or SIGINT
// ends the wait early (an operator who means "now").
func (d *daemon) drainDelay(delay time.Duration) {
	again := make(chan os.Signal, 1)
	signal.Notify(again, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(again)
	d.log.Info("draining: /readyz answers 503, still serving", "drain_delay", delay)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-again:
		d.log.Info("second signal: draining now")
	}
}

// config returns the configuration as last applied.
func (d *daemon) config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// reload re-reads the configuration file and applies it: a new World built off to the
// side, the routing table replaced (keeping the run-time migration state of unchanged
// routes), the World swapped in, and the old one closed after retireGrace. On any
// error every problem is logged and the running configuration stays as it was. It is
// the admin API's Reload and runs on SIGHUP; calls are serialised.
func (d *daemon) reload(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.done:
		return errors.New("reload: shutting down")
	default:
	}
	start := time.Now()
	cfg, err := config.Load(d.path)
	if err != nil {
		d.logProblems("reload: invalid configuration", err)
		return err
	}
	d.warnRestartOnly(cfg)
	auth, err := d.reloadAuth(cfg)
	if err != nil {
		d.logProblems("reload: auth keys", err)
		return err
	}
	world, err := buildWorld(ctx, d.rt, cfg, auth, d.dev, d.log, previous{cfg: d.cfg, w: d.world})
	if err != nil {
		d.logProblems("reload: cannot build the new configuration", err)
		return err
	}
	prevRoutes := d.table.Routes()
	routes, err := mergeRoutes(d.cfg, cfg, prevRoutes)
	if err == nil {
		err = d.table.Replace(routes)
	}
	if err != nil {
		closeWorld(context.WithoutCancel(ctx), world)
		d.logProblems("reload: routing table refused the new routes", err)
		return err
	}
	old := d.server.Swap(world)
	if old == nil {
		// The server refused the World (invalid route options) and kept the running
		// one; put the routes back to match it.
		err := errors.New("reload: the router refused the new route options (see its log)")
		if rerr := d.table.Replace(prevRoutes); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restore routes: %w", rerr))
		}
		closeWorld(context.WithoutCancel(ctx), world)
		d.logProblems("reload failed", err)
		return err
	}
	ps, err := plans(cfg)
	if err != nil { // config validation already accepted the plans
		d.logProblems("reload: migration plans", err)
	}
	d.cfg, d.world, d.plans, d.auth = cfg, world, ps, auth
	d.ctrl.SetPlans(ps)
	d.retire(old)
	d.log.Info("reloaded", "functions", len(world.Functions), "upstreams", len(world.Upstreams),
		"routes", len(routes), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// reloadAuth returns the Authenticator for next: the running one with its key files
// re-read (key rotation; on error the old keys stay in use) when [auth] is unchanged,
// else a new one built from next's [auth] (nil without it). Called with d.mu held.
func (d *daemon) reloadAuth(next *config.Config) (*auth.Authenticator, error) {
	if d.auth != nil && reflect.DeepEqual(d.cfg.Auth, next.Auth) {
		return d.auth, d.auth.Reload()
	}
	return newAuthenticator(next.Auth)
}

// retire closes w once requests that may have picked it up before the swap are done:
// after retireGrace, or at once at shutdown (after the server has drained).
func (d *daemon) retire(w *router.World) {
	d.retiring.Go(func() {
		t := time.NewTimer(retireGrace)
		defer t.Stop()
		select {
		case <-t.C:
		case <-d.done:
		}
		closeWorld(context.Background(), w)
	})
}

// logProblems logs every line of err (config errors are joined, one per line) as its
// own record, so that each problem is visible in structured logs.
func (d *daemon) logProblems(msg string, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			d.log.Error(msg, "problem", line)
		}
	}
}

// warnRestartOnly logs the changes a reload cannot apply: the listeners, the server's
// limits, the runtime and the admin token are set up once per process.
func (d *daemon) warnRestartOnly(next *config.Config) {
	prev := d.cfg
	// trusted_proxies lives in the World and changes on reload; drain_delay and
	// shutdown_timeout are read from the configuration applied last when
	// SIGTERM comes.
	ps, ns := prev.Server, next.Server
	ps.TrustedProxies, ns.TrustedProxies = nil, nil
	ps.DrainDelay, ns.DrainDelay = 0, 0
	ps.ShutdownTimeout, ns.ShutdownTimeout = 0, 0
	if !reflect.DeepEqual(ps, ns) {
		d.log.Warn("reload: [server] changes take effect at the next restart")
	}
	if prev.Admin != next.Admin {
		d.log.Warn("reload: [admin] changes take effect at the next restart")
	}
	if prev.Runtime != next.Runtime {
		d.log.Warn("reload: [runtime] changes take effect at the next restart")
	}
}

// serverOptions converts [server] into the fasthttp server's options.
func serverOptions(cfg *config.Config) router.ServerOptions {
	s := cfg.Server
	return router.ServerOptions{
		MaxRequestBody: int(s.MaxRequestBody),
		MaxHeaderSize:  int(s.MaxHeaderSize),
		ReadTimeout:    s.ReadTimeout.Std(),
		WriteTimeout:   s.WriteTimeout.Std(),
		IdleTimeout:    s.IdleTimeout.Std(),
	}
}

// readToken reads the admin bearer token from path. A missing or empty file is an
// error: the admin API can move traffic and is never served without a token.
func readToken(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("admin.token_file %s does not exist; create it with a random token, "+
			"(umask 077; openssl rand -hex 32 > %s), or run edged dev once with this config, which does the same", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("admin.token_file: %w", err)
	}
	tok := []byte(strings.TrimSpace(string(b)))
	if len(tok) == 0 {
		return nil, fmt.Errorf("admin.token_file %q: empty", path)
	}
	return tok, nil
}

// ensureCacheDir creates the compilation cache directory, so that a missing parent is
// reported with the config key rather than deep inside the runtime.
func ensureCacheDir(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("runtime.cache_dir: %w", err)
	}
	return nil
}

// baseURL turns a listener address into a URL a person can open: an unspecified host
// (":8080", "[::]:8080") becomes 127.0.0.1.
func baseURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	host := tcp.IP.String()
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}
