package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edged/edged/auth"
	"github.com/edged/edged/cost"
	"github.com/edged/edged/idempotency"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/internal/otlp"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/limits/fleetrate"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/router"
)

// errSecretMissing is wrapped by readSecrets when a secret's env variable is unset or
// its file does not exist.
var errSecretMissing = errors.New("secret not available")

// buildWorld loads every function and opens every upstream of cfg into a new World,
// off to the side of the running one. Functions load in parallel: compiling Go guests
// is the slow part of a start or reload. On error everything built so far is closed
// and every problem is returned joined.
//
// With e.dev (edged dev), a secret that is not available is logged and left out, so
// the function sees it as absent; otherwise it is an error.
//
// auth is the generation's Authenticator (nil without [auth]); it may be shared with
// the previous generation and is never closed with a World. The per-route rate
// limiters and idempotency stores are built here, or taken over from prev for routes
// whose settings for them did not change (see previous).
func buildWorld(ctx context.Context, e env, cfg *config.Config, auth *auth.Authenticator, prev previous) (*router.World, error) {
	log := e.log
	secrets, err := readSecrets(cfg, e.dev, log)
	if err != nil {
		return nil, err
	}
	w := &router.World{
		Functions: make(map[string]*isolate.Function, len(cfg.Functions)),
		Upstreams: make(map[string]*proxy.Upstream, len(cfg.Upstreams)),
		Routes:    make(map[string]router.RouteOptions, len(cfg.Routes)),
		Auth:      auth,
		Pricing:   pricing(cfg.Pricing),
	}
	if e.events != nil {
		w.Enqueuer = enqueuer{e.events}
	}
	var errs []error
	for i, tp := range cfg.Server.TrustedProxies {
		p, err := config.ParseTrustedProxy(tp)
		if err != nil { // validation accepted it already
			errs = append(errs, fmt.Errorf("server.trusted_proxies[%d]: %w", i, err))
			continue
		}
		w.TrustedProxies = append(w.TrustedProxies, p)
	}
	if w.Tracing, err = newTracing(ctx, cfg.Tracing, e.version, log); err != nil {
		errs = append(errs, fmt.Errorf("tracing: %w", err))
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Upstreams)) {
		u, err := proxy.New(name, upstreamOptions(cfg, cfg.Upstreams[name]), log.With("upstream", name))
		if err != nil {
			errs = append(errs, fmt.Errorf("upstreams.%s: %w", name, err))
			continue
		}
		w.Upstreams[name] = u
	}

	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, name := range slices.Sorted(maps.Keys(cfg.Functions)) {
		fc := cfg.Functions[name]
		src, opts, err := functionOptions(name, fc, secrets, log)
		if len(fc.Publish) > 0 && e.events != nil {
			opts.Publish = slices.Clone(fc.Publish)
			opts.Publisher = publisher{e.events}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("functions.%s: %w", name, err))
			continue
		}
		opts.BillingGranularity = cfg.Pricing.BillingGranularity.Std()
		wg.Go(func() {
			f, err := e.rt.Load(ctx, src, opts)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("functions.%s: load %s: %w", name, src, err))
				return
			}
			w.Functions[name] = f
		})
	}
	wg.Wait()

	for i, r := range cfg.Routes {
		o, err := routeOptions(r, prev, e.fleetLimiters, e.idempotency)
		if err != nil {
			errs = append(errs, fmt.Errorf("routes[%d]: %w", i, err))
			continue
		}
		w.Routes[r.Name] = o
	}
	if len(errs) > 0 {
		closeWorld(context.WithoutCancel(ctx), w)
		return nil, errors.Join(errs...)
	}
	return w, nil
}

// closeWorld closes every function and upstream of w. Requests still running in them
// finish (isolate.Function.Close and Upstream.Close both let in-flight work end), but
// new ones fail, so call it only once w is no longer installed and the grace period
// for requests that had already picked it up is over.
func closeWorld(ctx context.Context, w *router.World) {
	if w == nil {
		return
	}
	for _, f := range w.Functions {
		_ = f.Close(ctx)
	}
	for _, u := range w.Upstreams {
		_ = u.Close()
	}
	if w.Tracing != nil {
		if e, ok := w.Tracing.Exporter.(*otlp.Exporter); ok {
			// Flushes what the World's requests recorded, within the exporter's timeout.
			_ = e.Shutdown(ctx)
		}
	}
}

// newTracing builds the World's Tracing from [tracing]: trace context is always
// propagated; spans are exported only when an endpoint is named. Each World has
// its own exporter, shut down (and flushed) by closeWorld, so a reload can change
// the endpoint.
func newTracing(ctx context.Context, c config.Tracing, version string, log *slog.Logger) (*router.Tracing, error) {
	t := &router.Tracing{SampleRatio: c.SampleRatio, IgnoreIncoming: !c.AcceptIncoming}
	if c.Endpoint == "" {
		return t, nil
	}
	exp, err := otlp.New(ctx, otlp.Options{
		Endpoint: c.Endpoint, Headers: c.Headers, ServiceName: c.ServiceName, ServiceVersion: version,
		Timeout: c.Timeout.Std(), Logger: log.With("component", "tracing"),
	})
	if err != nil {
		return nil, err
	}
	t.Exporter = exp
	return t, nil
}

// pricing converts [pricing] for the cost report; it belongs in the World
// (router.World.Pricing) so that a reload changes the prices with it. The
// billing granularity goes to each function instead (see buildWorld).
func pricing(p config.Pricing) *cost.Pricing {
	return &cost.Pricing{
		PerMillionRequests:         p.PerMillionRequests,
		PerGBSecond:                p.PerGBSecond,
		ContainerPerHour:           p.ContainerPerHour,
		ContainerRequestsPerSecond: p.ContainerRequestsPerSecond,
	}
}

// upstreamOptions converts [upstreams.NAME] (and [server] forwarded_for).
func upstreamOptions(cfg *config.Config, u config.Upstream) proxy.Options {
	return proxy.Options{
		URL:             u.URL,
		MaxConns:        u.MaxConns,
		MaxConnWait:     u.MaxConnWait.Std(),
		ConnectTimeout:  u.ConnectTimeout.Std(),
		ResponseTimeout: u.ResponseTimeout.Std(),
		IdleTimeout:     u.IdleTimeout.Std(),
		MaxResponseBody: int64(u.MaxResponseBody),
		ForwardedFor:    cfg.Server.ForwardedFor,
	}
}

// functionOptions converts [functions.NAME], granting it only the secrets it lists.
func functionOptions(name string, f config.Function, secrets map[string][]byte, log *slog.Logger) (isolate.Source, isolate.FunctionOptions, error) {
	pol, err := f.Policy()
	if err != nil {
		return isolate.Source{}, isolate.FunctionOptions{}, err
	}
	src := isolate.Source{Path: f.Module, URL: f.URL, SHA256: f.SHA256}
	var granted map[string][]byte
	for _, s := range f.Secrets {
		if v, ok := secrets[s]; ok {
			if granted == nil {
				granted = make(map[string][]byte, len(f.Secrets))
			}
			granted[s] = v
		}
	}
	var cfgBytes []byte
	if f.Config != "" {
		cfgBytes = []byte(f.Config)
	}
	return src, isolate.FunctionOptions{
		Name:         name,
		Policy:       pol,
		MinInstances: f.MinInstances,
		MaxInstances: f.MaxInstances,
		MaxWait:      f.MaxWait.Std(),
		IdleTimeout:  f.IdleTimeout.Std(),
		Fresh:        f.Fresh,
		Config:       cfgBytes,
		Env:          maps.Clone(f.Env),
		Secrets:      granted,
		Logger:       log.With("function", name),
	}, nil
}

// previous is what a reload carries over from the running configuration: the
// rate limiters and idempotency stores of routes whose [routes.rate_limit] or
// [routes.idempotency] did not change. Without it a reload would forget every
// stored response, and a message delivered once before a SIGHUP and once after
// would run twice. The zero value carries nothing (the first World).
type previous struct {
	cfg *config.Config
	w   *router.World
}

// route returns the running configuration and options of the route named name.
func (p previous) route(name string) (*config.Route, router.RouteOptions, bool) {
	if p.cfg == nil || p.w == nil {
		return nil, router.RouteOptions{}, false
	}
	o, ok := p.w.Routes[name]
	if !ok {
		return nil, o, false
	}
	for i := range p.cfg.Routes {
		if p.cfg.Routes[i].Name == name {
			return &p.cfg.Routes[i], o, true
		}
	}
	return nil, o, false
}

// routeOptions converts the parts of a [[routes]] entry that the strangler table does
// not hold, building the route's rate limiter and idempotency store, or taking them
// over from prev when their configuration is unchanged. fleet builds the limiters of
// scope = "fleet"; nil when the daemon has no NATS connection. shared derives the
// idempotency store from the fleet's bucket; nil keeps the keys in memory.
func routeOptions(r config.Route, prev previous, fleet fleetLimiters, shared sharedIdempotency) (router.RouteOptions, error) {
	oldCfg, oldOpts, hadRoute := prev.route(r.Name)
	// MaxRequestBody stays 0, the server's cap: a function's own max_request_body is
	// enforced by the isolate and must not cap what legacy receives on the same route.
	o := router.RouteOptions{Fallback: r.Fallback == nil || *r.Fallback}
	if s := r.Shadow; s != nil {
		o.CompareHeaders = slices.Clone(s.CompareHeaders)
		o.IgnoreFields = slices.Clone(s.Ignore)
		o.ShadowMaxConcurrent = s.MaxConcurrent
		o.ShadowMaxBody = int64(s.MaxBody)
		o.NoiseSample = s.NoiseSample
		if s.NoiseSample == 0 {
			o.NoiseSample = -1 // the router's zero is its default; the file's 0 means off
		}
	}
	o.RequireAuth = r.Auth == config.AuthRequired
	o.Scopes = slices.Clone(r.Scopes)
	var errs []error
	switch rl := r.RateLimit; {
	case rl == nil:
	case hadRoute && oldOpts.RateLimit != nil && reflect.DeepEqual(oldCfg.RateLimit, rl):
		o.RateLimit, o.RateLimitBy = oldOpts.RateLimit, oldOpts.RateLimitBy
	default:
		var err error
		o.RateLimit, err = rateLimiter(r.Name, rl, fleet)
		if err != nil {
			errs = append(errs, fmt.Errorf("rate_limit: %w", err))
		}
		o.RateLimitBy = rl.Key
	}
	switch id := r.Idempotency; {
	case id == nil || !id.Enabled:
	case hadRoute && oldOpts.Idempotency != nil && reflect.DeepEqual(oldCfg.Idempotency, id):
		o.Idempotency = oldOpts.Idempotency
	default:
		var store idempotency.Store // nil: the handler's MemoryStore, bounded by max_keys and max_stored_bytes
		if shared != nil {
			var err error
			if store, err = shared(id.TTL.Std(), int(id.MaxResponseBytes)); err != nil {
				errs = append(errs, fmt.Errorf("idempotency: %w", err))
				break
			}
		}
		var err error
		o.Idempotency, err = idempotency.NewHandler(store, idempotency.Options{
			TTL:              id.TTL.Std(),
			MaxResponseBytes: int(id.MaxResponseBytes),
			MaxEntries:       id.MaxKeys,
			MaxStoredBytes:   int(id.MaxStoredBytes),
			OnConcurrent:     id.OnConcurrent,
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return o, errors.Join(errs...)
}

// sharedIdempotency derives the store of a route's [routes.idempotency] from the
// fleet's shared bucket (idempotency/kvstore), with the route's TTL and response
// cap; max_keys and max_stored_bytes bound a node's memory only, the bucket has its
// own bound. nil means no fleet: each route keeps its keys in this node's memory.
type sharedIdempotency func(ttl time.Duration, maxResponse int) (idempotency.Store, error)

// fleetLimiters builds the limiter of a route whose [routes.rate_limit] has
// scope = "fleet". nil means the daemon has no NATS connection to share
// buckets over.
type fleetLimiters func(fleetrate.Options) (router.RateLimiter, error)

// rateLimiter builds the limiter of route's [routes.rate_limit]: the node's own
// buckets, or with scope = "fleet" buckets shared over fleet. It returns a nil
// interface, never a typed nil, on error.
func rateLimiter(route string, rl *config.RateLimit, fleet fleetLimiters) (router.RateLimiter, error) {
	rate, err := limits.ParseRate(rl.Rate)
	if err != nil {
		return nil, err
	}
	if rl.Scope == config.RateScopeFleet {
		if fleet == nil {
			return nil, errors.New(`scope = "fleet" needs the NATS connection of [events]`)
		}
		return fleet(fleetrate.Options{Route: route, Rate: rate, Burst: rl.Burst, MaxKeys: rl.MaxClients,
			SyncInterval: rl.SyncInterval.Std()})
	}
	l, err := limits.NewLimiter(limits.LimiterOptions{Rate: rate, Burst: rl.Burst, MaxKeys: rl.MaxClients})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// authOptions converts [auth]; nil for a file without it.
func authOptions(a *config.Auth) *auth.Options {
	if a == nil {
		return nil
	}
	cache := a.JWTCacheEntries
	if cache == 0 {
		cache = -1 // the file's 0 is "off"; the auth package's 0 is its default
	}
	return &auth.Options{
		JWTCacheEntries: cache,
		JWTCacheTTL:     a.JWTCacheTTL.Std(),
		APIKeyFile:      a.APIKeyFile,
		JWTKeyFile:      a.JWTKeyFile,
		JWTSecretFile:   a.JWTSecretFile,
		JWKSFile:        a.JWKSFile,
		JWTAlgorithms:   slices.Clone(a.JWTAlgorithms),
		Issuer:          a.Issuer,
		Audience:        a.Audience,
		ClockSkew:       a.ClockSkew.Std(),
		MaxTokenBytes:   int(a.MaxTokenBytes),
		ForwardClaims:   slices.Clone(a.ForwardClaims),
		HeaderPrefix:    a.HeaderPrefix,
	}
}

// newAuthenticator builds the Authenticator of [auth], reading its key files; nil
// and no error for a file without [auth].
func newAuthenticator(a *config.Auth) (*auth.Authenticator, error) {
	o := authOptions(a)
	if o == nil {
		return nil, nil
	}
	authn, err := auth.New(*o)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return authn, nil
}

// readSecrets reads the value of every [secrets.NAME] that some function is granted.
// A file's one trailing newline is stripped, since editors add it. Secrets that no
// function lists are not read at all.
func readSecrets(cfg *config.Config, lenient bool, log *slog.Logger) (map[string][]byte, error) {
	wanted := make(map[string]bool)
	for _, f := range cfg.Functions {
		for _, s := range f.Secrets {
			wanted[s] = true
		}
	}
	out := make(map[string][]byte, len(wanted))
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(wanted)) {
		s := cfg.Secrets[name] // config validation guarantees it is defined
		v, err := readSecret(s)
		if err != nil {
			if lenient && errors.Is(err, errSecretMissing) {
				log.Warn("secret not available; functions granted it will not see it", "secret", name, "err", err)
				continue
			}
			errs = append(errs, fmt.Errorf("secrets.%s: %w; %s", name, err, secretHint(cfg, name)))
			continue
		}
		out[name] = v
	}
	return out, errors.Join(errs...)
}

// secretHint says how to make the secret name available, or to stop needing it.
func secretHint(cfg *config.Config, name string) string {
	var users []string
	for _, fn := range slices.Sorted(maps.Keys(cfg.Functions)) {
		if slices.Contains(cfg.Functions[fn].Secrets, name) {
			users = append(users, "functions."+fn+".secrets")
		}
	}
	how := fmt.Sprintf("create the file %s holding the value (mode 0600)", cfg.Secrets[name].File)
	if env := cfg.Secrets[name].Env; env != "" {
		how = fmt.Sprintf("set it in edged's environment (%s=... edged serve ...)", env)
	}
	return fmt.Sprintf("%s, or remove %q from %s (edged dev starts without it)", how, name, strings.Join(users, " and "))
}

// readSecret reads one secret's value from its env variable or file.
func readSecret(s config.Secret) ([]byte, error) {
	if s.Env != "" {
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not set: %w", s.Env, errSecretMissing)
		}
		return []byte(v), nil
	}
	b, err := os.ReadFile(s.File)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %q: %w", s.File, errSecretMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	return trimNewline(b), nil
}

// trimNewline strips one trailing "\n" or "\r\n".
func trimNewline(b []byte) []byte {
	if bytes.HasSuffix(b, []byte("\r\n")) {
		return b[:len(b)-2]
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}
