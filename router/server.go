package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged/edged/auth"
	"github.com/edged/edged/cost"
	"github.com/edged/edged/idempotency"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/shadow"
	"github.com/edged/edged/strangler"
	"github.com/edged/edged/strangler/migrate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
)

// World is one configuration generation: the functions and upstreams a reload builds
// off to the side and swaps in at once with Server.Swap. Maps are keyed by the names
// routes use (strangler.Route.Upstream, .Function, .Name). A World is read-only once
// given to the Server; the caller owns its Functions and Upstreams and closes them.
type World struct {
	Functions map[string]*isolate.Function
	Upstreams map[string]*proxy.Upstream
	// Routes holds per-route options that are not in the strangler table. A route
	// missing from it gets DefaultRouteOptions.
	Routes map[string]RouteOptions
	// Auth checks credentials on routes whose RouteOptions.RequireAuth is set.
	// When it is non-nil, inbound identity headers (its HeaderPrefix) are
	// stripped from every request, on every route, so that no client can
	// forge an identity an upstream or guest would trust. Nil: no route may
	// require auth (such routes answer 500) and nothing is stripped. The
	// caller owns it and calls its Reload to rotate keys.
	Auth *auth.Authenticator
	// Pricing prices the cost report (GET /v1/cost) while this World is current,
	// so new prices take effect with the reload that swaps the World in. Nil: the
	// admin API's admin.Config.Pricing, else cost.DefaultPricing.
	Pricing *cost.Pricing
	// Tracing, when not nil, propagates W3C Trace Context and records spans
	// (see Tracing).
	Tracing *Tracing
	// TrustedProxies are the load balancers and proxies in front of the
	// Server whose X-Forwarded-For is believed: for a request from one of
	// them, the client address that rate limits, idempotency keys, canary
	// stickiness and traces use is the nearest X-Forwarded-For address
	// outside these prefixes. Empty: the TCP peer is the client. What the
	// upstream and the guest see is not changed.
	TrustedProxies []netip.Prefix
	// Enqueuer publishes the requests of enqueue routes (strangler.Route
	// Enqueue). Nil: such routes answer 503.
	Enqueuer Enqueuer
}

// RouteOptions are a route's request-path options. The zero value of each numeric
// field is its documented default; Fallback has no such default in the zero value
// (false means off), so callers set it explicitly; DefaultRouteOptions has it on.
type RouteOptions struct {
	// Fallback, at the isolate and canary stages, answers from legacy when the isolate
	// traps, runs out of time, memory or pool, or writes too big a body, provided the
	// method is idempotent (GET, HEAD, OPTIONS, PUT, DELETE) and the route has an
	// upstream. Request bodies are always buffered, so they are replayable.
	Fallback bool
	// CompareHeaders lists response headers a shadow comparison checks besides
	// status and body (names compare case-insensitively).
	CompareHeaders []string
	// IgnoreFields lists JSON paths left out of a shadow body comparison:
	// "$.generated_at", "$.items[*].id", "$.meta.*", "$.list[0]". A bad path makes
	// NewServer and Swap fail.
	IgnoreFields []string
	// ShadowMaxConcurrent bounds the mirrors in flight for the route; beyond it a
	// request is not mirrored and counts as skipped. Default 16.
	ShadowMaxConcurrent int
	// ShadowMaxBody bounds the legacy response body buffered for comparison, in
	// bytes; bigger answers are passed through uncompared. Default 1 MiB.
	ShadowMaxBody int64
	// MaxRequestBody caps the request body for the route in bytes; larger requests get
	// 413. 0 means the server's cap (ServerOptions.MaxRequestBody) only.
	MaxRequestBody int64
	// NoiseSample is the fraction of shadow mirrors of GET, HEAD and OPTIONS requests
	// that also ask legacy a second time, in the background, to learn which fields
	// differ between two answers of legacy itself (timestamps, request ids): a
	// difference there is noise, not a mismatch (RouteStats.Noise). Unsafe methods are
	// never sent twice. 0 means DefaultNoiseSample (0.1: the first mirror, then every
	// tenth); a negative value turns the baseline off; 1 or more asks twice every time.
	NoiseSample float64

	// RequireAuth makes World.Auth check every request of the route before
	// anything else runs: 401 with WWW-Authenticate without a valid
	// credential, 403 without every scope in Scopes. Default false.
	RequireAuth bool
	// Scopes are the scopes a credential must grant when RequireAuth is set.
	Scopes []string
	// RateLimit, when non-nil, admits each client's requests through a token
	// bucket (after auth); a refused request gets 429 with Retry-After in
	// whole seconds. The client is chosen by RateLimitBy.
	RateLimit RateLimiter
	// RateLimitBy says what identifies a client to RateLimit: RateByIP (the
	// default, also for ""), RateBySubject or RateByAPIKey. Without a verified
	// identity of that kind the client address is used.
	RateLimitBy string
	// Idempotency, when non-nil, wraps the route's dispatch: POST, PUT and
	// PATCH requests with an Idempotency-Key header run once per route and
	// client identity (see idempotency.Handler.Handle).
	Idempotency *idempotency.Handler
}

// RateLimiter admits or refuses a client's request: a *limits.Limiter (one
// node's buckets) or a fleet-wide limiter (limits/fleetrate). AllowAt must not
// retain key and should not allocate; now is the request's time (fasthttp's
// RequestCtx.Time). A refusal says how long until a request would pass.
type RateLimiter interface {
	AllowAt(key []byte, now time.Time) (ok bool, retryAfter time.Duration)
}

// Values of RouteOptions.RateLimitBy.
const (
	RateByIP      = "ip"      // the client address; IPv6 grouped by /64
	RateBySubject = "subject" // auth.Result.Subject (JWT sub or API key name)
	RateByAPIKey  = "api_key" // auth.Result.KeyName, else the subject
)

// Defaults of RouteOptions.
const (
	DefaultShadowMaxConcurrent = 16
	DefaultShadowMaxBody       = 1 << 20
)

// DefaultRouteOptions returns the options of a route that World.Routes does not list:
// fallback on, other fields at their defaults.
func DefaultRouteOptions() RouteOptions { return RouteOptions{Fallback: true} }

// Config configures a Server. Table is required; the other fields may be zero.
type Config struct {
	// Table is the routing table; the Server reads its current snapshot per request,
	// so table changes (admin actions, the migration controller) apply at once.
	Table *strangler.Table
	// Logger receives the server's logs; nil discards.
	Logger *slog.Logger
	// AccessLog, when not nil, receives one line per request: method, path,
	// status, duration, route, stage, client address and trace id. It costs
	// a log record per request, so it is off (nil) by default.
	AccessLog *slog.Logger
	// Server configures the fasthttp server that Serve runs.
	Server ServerOptions
	// Now stamps shadow mismatches; nil means time.Now. Latencies always use the
	// monotonic clock.
	Now func() time.Time
}

// Server is edged's front end: it matches each request against the routing table and
// answers it from the legacy upstream, the isolate, or both (see README.md,
// "Architecture"). It is safe for concurrent use. Create it with NewServer, run it with
// Serve or mount Handler in a fasthttp server of your own, and stop it with Shutdown.
type Server struct {
	table  *strangler.Table
	log    *slog.Logger
	access *slog.Logger // nil: no access log
	now    func() time.Time
	m      *metrics
	reg    *prometheus.Registry
	epoch  time.Time // origin of mono's readings
	srv    *fasthttp.Server
	wdl    time.Duration // per-write deadline (ServerOptions.WriteTimeout)

	// world reads the World bound to the table's current snapshot (see worlds).
	world worlds

	statesMu sync.Mutex
	states   atomic.Pointer[map[string]*routeState]

	// base carries the isolate counters of Functions swapped out, so that
	// edged_isolate_* counters do not go back on a reload.
	baseMu    sync.Mutex
	base      map[string]isolate.Stats
	traceBase struct{ dropped, failed uint64 } // span losses of swapped-out exporters

	xpool  sync.Pool // *exchange
	shpool sync.Pool // *mirror

	// Background mirrors are owned by the Server: bg counts them, bgCtx stops them,
	// bgClosed (under bgMu) refuses new ones once Shutdown has begun.
	bgMu     sync.Mutex
	bgClosed bool
	lns      []net.Listener // listeners given to Serve, closed by Shutdown
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc

	// onMirror, set by tests before serving, is called when a mirror has recorded
	// its comparison, so tests wait on a channel instead of sleeping.
	onMirror func(route string)
}

// worlds reads the installed World. It is not a field of its own: the Server
// publishes each World as the Targets of the table's snapshot (strangler.Table.SetTargets,
// ReplaceTargets), so that a request which takes its routes and its World from one
// snapshot never matches a route of one configuration against the World of another.
type worlds struct{ table *strangler.Table }

// Load returns the World of the table's current snapshot.
func (w worlds) Load() *worldState { return worldOf(w.table.Snapshot()) }

// worldOf returns the World published with snap; an empty one if snap carries
// none (a Table that NewServer did not bind).
func worldOf(snap *strangler.Snapshot) *worldState {
	if ws, ok := snap.Targets().(*worldState); ok {
		return ws
	}
	return emptyWorld
}

var emptyWorld = &worldState{w: &World{}, opts: map[string]*routeOpts{}}

// worldState is a World with its route options compiled.
type worldState struct {
	w          *World
	opts       map[string]*routeOpts
	authPrefix []byte         // w.Auth's HeaderPrefix, for auth.StripIdentityHeaders
	trusted    []netip.Prefix // w.TrustedProxies, masked
}

// routeOpts is RouteOptions with defaults applied and ignore paths parsed.
type routeOpts struct {
	RouteOptions
	ignore []shadow.Path
}

var defaultOpts = mustCompileOpts(DefaultRouteOptions())

func mustCompileOpts(o RouteOptions) *routeOpts {
	ro, err := compileOpts(o)
	if err != nil {
		panic(err)
	}
	return ro
}

func compileOpts(o RouteOptions) (*routeOpts, error) {
	if o.ShadowMaxConcurrent <= 0 {
		o.ShadowMaxConcurrent = DefaultShadowMaxConcurrent
	}
	if o.ShadowMaxBody <= 0 {
		o.ShadowMaxBody = DefaultShadowMaxBody
	}
	if o.NoiseSample == 0 {
		o.NoiseSample = DefaultNoiseSample
	}
	ro := &routeOpts{RouteOptions: o}
	var errs []error
	for _, p := range o.IgnoreFields {
		jp, err := shadow.ParsePath(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ro.ignore = append(ro.ignore, jp)
	}
	return ro, errors.Join(errs...)
}

func compileWorld(w *World) (*worldState, error) {
	if w == nil {
		w = &World{}
	}
	ws := &worldState{w: w, opts: make(map[string]*routeOpts, len(w.Routes))}
	for _, p := range w.TrustedProxies {
		ws.trusted = append(ws.trusted, p.Masked())
	}
	if w.Auth != nil {
		ws.authPrefix = []byte(w.Auth.HeaderPrefix())
	}
	var errs []error
	for name, o := range w.Routes {
		if o.RequireAuth && w.Auth == nil {
			errs = append(errs, fmt.Errorf("route %q: requires auth but World.Auth is nil", name))
			continue
		}
		ro, err := compileOpts(o)
		if err != nil {
			errs = append(errs, fmt.Errorf("route %q: ignore_fields: %w", name, err))
			continue
		}
		ws.opts[name] = ro
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ws, nil
}

func (ws *worldState) options(route string) *routeOpts {
	if o, ok := ws.opts[route]; ok {
		return o
	}
	return defaultOpts
}

// NewServer returns a Server for c serving w. w may be nil (every route then answers
// 502 until a Swap). The Server publishes w with c.Table's snapshots (see Install), so
// a Table serves one Server. The Server keeps its own Prometheus registry (with the Go and
// process collectors); MetricsHandler serves it.
func NewServer(c Config, w *World) (*Server, error) {
	if c.Table == nil {
		return nil, errors.New("router: Config.Table is required")
	}
	ws, err := compileWorld(w)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	s := &Server{
		table:  c.Table,
		world:  worlds{c.Table},
		log:    c.Logger,
		access: c.AccessLog,
		now:    c.Now,
		base:   make(map[string]isolate.Stats),
		epoch:  time.Now(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newTracingCollector(s))
	if s.m, err = newMetrics(s.reg, s); err != nil {
		return nil, fmt.Errorf("router: register metrics: %w", err)
	}
	empty := map[string]*routeState{}
	s.states.Store(&empty)
	c.Table.SetTargets(ws)
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	// NoDefaultDate: a proxied answer keeps the upstream's Date (proxy.Upstream.Serve); an
	// answer edged builds itself resets the Response, which restores fasthttp's Date.
	s.srv = &fasthttp.Server{Handler: s.Handler, Name: "edged", Logger: fastLogger{s.log}, NoDefaultDate: true}
	ConfigureServer(s.srv, c.Server)
	s.wdl = or(c.Server.WriteTimeout, DefaultServerWriteTimeout)
	return s, nil
}

// Swap atomically installs w, keeping the routes, and returns the World it replaces.
// Requests already in flight finish with the World they started with, so the caller
// should close the previous World's Functions and Upstreams after a grace period (both
// let in-flight calls finish on Close). If w's route options are invalid (a bad ignore
// path), Swap keeps the current World and returns the error.
func (s *Server) Swap(w *World) (*World, error) {
	ws, err := compileWorld(w)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	old, _ := s.table.SetTargets(ws).(*worldState)
	return s.retired(old, ws), nil
}

// Install replaces the table's routes and the World in one step: a request matches
// either the old routes against the old World or the new routes against the new one,
// never a new route against a World that lacks its function or upstream. It returns
// the World it replaced, to be closed as after Swap. On error (invalid routes or route
// options) nothing changes.
func (s *Server) Install(routes []strangler.Route, w *World) (*World, error) {
	ws, err := compileWorld(w)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	prev, err := s.table.ReplaceTargets(routes, ws)
	if err != nil {
		return nil, fmt.Errorf("routing table: %w", err)
	}
	old, _ := prev.(*worldState)
	return s.retired(old, ws), nil
}

// retired keeps the counters of old's outgoing functions and exporter, so that
// Prometheus counters stay monotonic, and returns old's World (nil for none).
func (s *Server) retired(old, next *worldState) *World {
	if old == nil {
		return nil
	}
	// A Function carried over into the new World keeps counting itself.
	kept := make(map[*isolate.Function]bool, len(next.w.Functions))
	for _, f := range next.w.Functions {
		kept[f] = true
	}
	s.baseMu.Lock()
	for name, f := range old.w.Functions {
		if f != nil && !kept[f] {
			s.base[name] = addStats(s.base[name], f.Stats())
		}
	}
	if st := exporterStats(old.w.Tracing); st != nil && !sameStats(st, exporterStats(next.w.Tracing)) {
		s.traceBase.dropped += st.Dropped()
		s.traceBase.failed += st.Failed()
	}
	s.baseMu.Unlock()
	return old.w
}

// RouteStats returns the counters of the route called name, and false if the Server
// has not served that route yet. It is safe for concurrent use.
func (s *Server) RouteStats(name string) (RouteStats, bool) {
	rs, ok := (*s.states.Load())[name]
	if !ok {
		return RouteStats{}, false
	}
	return rs.stats(), true
}

// MetricsHandler serves the Server's Prometheus metrics in the text
// exposition format.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
}

// Registerer is where another package registers its collectors (the admin
// API's migration metrics) to be served with the Server's own by
// MetricsHandler.
func (s *Server) Registerer() prometheus.Registerer { return s.reg }

// Sample returns the route's cumulative outcomes for the migration controller;
// it implements migrate.Sampler. A route not served yet reads as zero.
func (s *Server) Sample(name string) (migrate.Sample, bool) {
	rs, ok := (*s.states.Load())[name]
	if !ok {
		return migrate.Sample{}, true
	}
	return migrate.Sample{
		Legacy:           rs.targets[targetLegacy].sample(),
		Isolate:          rs.targets[targetIsolate].sample(),
		ShadowCompared:   rs.compared.Load(),
		ShadowMismatches: rs.mismatched.Load(),
	}, true
}

var _ migrate.Sampler = (*Server)(nil)

// state returns the route's live state, creating it on first use. The common path is
// one map read of an immutable map.
func (s *Server) state(name string) *routeState {
	if rs, ok := (*s.states.Load())[name]; ok {
		return rs
	}
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	cur := *s.states.Load()
	if rs, ok := cur[name]; ok {
		return rs
	}
	next := make(map[string]*routeState, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	rs := s.m.newRouteState(name)
	next[name] = rs
	s.states.Store(&next)
	return rs
}

// Serve accepts connections on ln and serves them until Shutdown. It returns nil
// after a Shutdown, or the listener's error. Each write to a client has
// ServerOptions.WriteTimeout to make progress (see WriteDeadlineListener).
func (s *Server) Serve(ln net.Listener) error {
	s.bgMu.Lock()
	if s.bgClosed {
		s.bgMu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.lns = append(s.lns, ln)
	s.bgMu.Unlock()
	err := s.srv.Serve(WriteDeadlineListener(ln, s.wdl))
	s.bgMu.Lock()
	closed := s.bgClosed
	s.bgMu.Unlock()
	if closed {
		// Shutdown closed ln, possibly before fasthttp had registered it.
		return nil
	}
	return err
}

// Shutdown stops accepting connections, waits for in-flight requests and background
// mirrors to finish until ctx is done, then cancels the mirrors still running. It
// returns ctx's error if draining did not finish in time.
func (s *Server) Shutdown(ctx context.Context) error {
	// Closing the listeners here, not only in fasthttp, also stops a Serve
	// that had not yet handed its listener to fasthttp.
	s.bgMu.Lock()
	s.bgClosed = true
	for _, ln := range s.lns {
		_ = ln.Close()
	}
	s.bgMu.Unlock()
	err := s.srv.ShutdownWithContext(ctx)
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	done := make(chan struct{})
	go func() { s.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.bgCancel()
		<-done
		if err == nil {
			err = ctx.Err()
		}
	}
	s.bgCancel()
	return err
}

// startBackground reserves a slot for a background mirror; false once Shutdown began.
func (s *Server) startBackground() bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgClosed {
		return false
	}
	s.bg.Add(1)
	return true
}

// fastLogger sends fasthttp's own messages (accept errors and the like) to slog.
type fastLogger struct{ l *slog.Logger }

func (f fastLogger) Printf(format string, args ...any) {
	f.l.Warn("fasthttp", slog.String("msg", fmt.Sprintf(format, args...)))
}
