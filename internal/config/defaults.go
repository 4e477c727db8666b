package config

import (
	"strconv"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/limits/fleetrate"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/router"
)

// Defaults that no library package defines (limits, proxy, isolate and router
// export theirs as Default*). The struct doc comments repeat them
// for users; this is the one place that applies them.
const (
	defaultListen          = ":8080"
	defaultShutdownTimeout = 15 * time.Second
	defaultDrainDelay      = 5 * time.Second
	defaultForwardedFor    = "overwrite"

	defaultAdminListen = "127.0.0.1:9901"
	defaultCacheDir    = ".edged/cache"
	defaultStateDir    = ".edged/state"

	defaultShadowSamples = 20

	defaultMigrationStart  = StageCanary
	defaultInterval        = time.Minute
	defaultMinRequests     = 100
	defaultMaxErrorRate    = 0.01
	defaultMaxLatencyRatio = 1.5
	defaultMaxMismatchRate = 0.01
	defaultOnFailure       = "rollback"
)

// applyDefaults fills every key the file did not write. set holds the key
// paths that were written (see definedKeys): a key written as 0 or "" is
// left alone so that validation can refuse it or honour it (an explicit
// max_error_rate = 0 means "no errors at all", not "the default").
// defaulter applies defaults to the keys a file did not set: set holds the
// dotted paths of every key that was (the decoder's metadata).
type defaulter map[string]bool

func (d defaulter) str(p *string, path, def string) {
	if !d[path] {
		*p = def
	}
}

func (d defaulter) dur(p *limits.Duration, path string, def time.Duration) {
	if !d[path] {
		*p = limits.Duration(def)
	}
}

func (d defaulter) size(p *limits.Size, path string, def limits.Size) {
	if !d[path] {
		*p = def
	}
}

func (d defaulter) num(p *int, path string, def int) {
	if !d[path] {
		*p = def
	}
}

func (d defaulter) float(p *float64, path string, def float64) {
	if !d[path] {
		*p = def
	}
}

func applyDefaults(c *Config, set map[string]bool) {
	d := defaulter(set)
	s := &c.Server
	d.str(&s.Listen, "server.listen", defaultListen)
	// The listener's limits are the router's own defaults, so that edged and
	// an embedding program cannot disagree.
	d.dur(&s.ReadTimeout, "server.read_timeout", router.DefaultServerReadTimeout)
	d.dur(&s.WriteTimeout, "server.write_timeout", router.DefaultServerWriteTimeout)
	d.dur(&s.IdleTimeout, "server.idle_timeout", router.DefaultServerIdleTimeout)
	d.dur(&s.ShutdownTimeout, "server.shutdown_timeout", defaultShutdownTimeout)
	d.dur(&s.DrainDelay, "server.drain_delay", defaultDrainDelay)
	d.size(&s.MaxRequestBody, "server.max_request_body", router.DefaultMaxRequestBody)
	d.size(&s.MaxHeaderSize, "server.max_header_size", router.DefaultMaxHeaderSize)
	d.str(&s.ForwardedFor, "server.forwarded_for", defaultForwardedFor)

	d.str(&c.Admin.Listen, "admin.listen", defaultAdminListen)
	defaultPricing(c, set)
	defaultTracing(c, set)
	defaultEvents(c, set)
	defaultFleet(c, set)
	d.str(&c.Runtime.CacheDir, "runtime.cache_dir", defaultCacheDir)
	d.str(&c.Runtime.StateDir, "runtime.state_dir", defaultStateDir)

	d.auth(c.Auth)
	d.upstreams(c.Upstreams)
	d.functions(c.Functions)
	for i := range c.Routes {
		d.route(&c.Routes[i], "routes["+strconv.Itoa(i)+"].")
	}
}

// auth fills [auth]'s defaults.
func (d defaulter) auth(a *Auth) {
	if a == nil {
		return
	}
	d.dur(&a.ClockSkew, "auth.clock_skew", defaultAuthClockSkew)
	d.size(&a.MaxTokenBytes, "auth.max_token_bytes", defaultAuthMaxTokenBytes)
	d.str(&a.HeaderPrefix, "auth.header_prefix", defaultAuthHeaderPrefix)
	d.dur(&a.JWTCacheTTL, "auth.jwt_cache_ttl", defaultJWTCacheTTL)
	d.num(&a.JWTCacheEntries, "auth.jwt_cache_entries", defaultJWTCacheEntries)
}

// upstreams fills every [upstreams.NAME]'s defaults.
func (d defaulter) upstreams(ups map[string]Upstream) {
	for name, u := range ups {
		p := "upstreams." + keyPart(name) + "."
		d.num(&u.MaxConns, p+"max_conns", proxy.DefaultMaxConns)
		d.dur(&u.MaxConnWait, p+"max_conn_wait", proxy.DefaultMaxConnWait)
		d.dur(&u.ConnectTimeout, p+"connect_timeout", proxy.DefaultConnectTimeout)
		d.dur(&u.ResponseTimeout, p+"response_timeout", proxy.DefaultResponseTimeout)
		d.dur(&u.IdleTimeout, p+"idle_timeout", proxy.DefaultIdleTimeout)
		ups[name] = u
	}

}

// functions fills every [functions.NAME]'s defaults.
func (d defaulter) functions(fns map[string]Function) {
	// The limit defaults belong to limits.Policy; copying them here makes
	// the Config show the values that will be enforced.
	pol := limits.Policy{}.WithDefaults()
	for name, f := range fns {
		p := "functions." + keyPart(name) + "."
		d.dur(&f.Timeout, p+"timeout", pol.Timeout)
		d.size(&f.Memory, p+"memory", pol.Memory)
		d.size(&f.MaxRequestBody, p+"max_request_body", pol.MaxRequestBody)
		d.size(&f.MaxResponseBody, p+"max_response_body", pol.MaxResponseBody)
		d.size(&f.MaxLogBytes, p+"max_log_bytes", pol.MaxLogBytes)
		d.num(&f.MaxInstances, p+"max_instances", isolate.DefaultMaxInstances)
		d.dur(&f.IdleTimeout, p+"idle_timeout", isolate.DefaultIdleTimeout)
		d.dur(&f.MaxWait, p+"max_wait", isolate.DefaultMaxWait)
		// limits.Egress gives no subrequests to a function with no egress
		// allowed, and DefaultMaxSubrequests otherwise.
		if len(f.AllowedHosts) > 0 {
			d.num(&f.MaxSubrequests, p+"max_subrequests", limits.DefaultMaxSubrequests)
		}
		d.dur(&f.SubrequestTimeout, p+"subrequest_timeout", pol.Egress.SubrequestTimeout)
		d.size(&f.MaxSubrequestBody, p+"max_subrequest_body", pol.Egress.MaxSubrequestBody)
		fns[name] = f
	}

}

// route fills the defaults of the route r, whose keys start with p.
func (d defaulter) route(r *Route, p string) {
	d.str(&r.Sticky, p+"sticky", "ip")
	d.str(&r.Auth, p+"auth", defaultRouteAuth)
	if rl := r.RateLimit; rl != nil {
		d.str(&rl.Key, p+"rate_limit.key", defaultRateKey)
		if rate, err := limits.ParseRate(rl.Rate); err == nil {
			d.num(&rl.Burst, p+"rate_limit.burst", defaultBurst(rate))
		}
		d.num(&rl.MaxClients, p+"rate_limit.max_clients", defaultRateMaxClients)
		d.str(&rl.Scope, p+"rate_limit.scope", defaultRateScope)
		d.dur(&rl.SyncInterval, p+"rate_limit.sync_interval", fleetrate.DefaultSyncInterval)
	}
	if id := r.Idempotency; id != nil {
		d.dur(&id.TTL, p+"idempotency.ttl", defaultIdemTTL)
		d.size(&id.MaxResponseBytes, p+"idempotency.max_response_bytes", defaultIdemMaxResponse)
		d.str(&id.OnConcurrent, p+"idempotency.on_concurrent", defaultIdemOnConcurrent)
		d.num(&id.MaxKeys, p+"idempotency.max_keys", defaultIdemMaxKeys)
		d.size(&id.MaxStoredBytes, p+"idempotency.max_stored_bytes", max(defaultIdemMaxStored, id.MaxResponseBytes))
	}
	if rec := r.Record; rec != nil {
		d.float(&rec.Sample, p+"record.sample", defaultRecordSample)
		d.size(&rec.MaxBytes, p+"record.max_bytes", defaultRecordMaxBytes)
	}
	if r.Fallback == nil {
		t := true
		r.Fallback = &t
	}
	if r.Migration != nil {
		m := r.Migration
		mp := p + "migration."
		d.str(&m.Start, mp+"start", defaultMigrationStart)
		d.dur(&m.Interval, mp+"interval", defaultInterval)
		d.num(&m.MinRequests, mp+"min_requests", defaultMinRequests)
		d.float(&m.MaxErrorRate, mp+"max_error_rate", defaultMaxErrorRate)
		d.float(&m.MaxLatencyRatio, mp+"max_latency_ratio", defaultMaxLatencyRatio)
		d.float(&m.MaxMismatchRate, mp+"max_mismatch_rate", defaultMaxMismatchRate)
		d.str(&m.OnFailure, mp+"on_failure", defaultOnFailure)
	}
	if r.Shadow == nil && (r.Stage == StageShadow || (r.Migration != nil && r.Migration.Start == StageShadow)) {
		r.Shadow = &Shadow{}
	}
	if r.Shadow != nil {
		sh := r.Shadow
		sp := p + "shadow."
		// The router's own defaults, as for [server].
		d.num(&sh.MaxConcurrent, sp+"max_concurrent", router.DefaultShadowMaxConcurrent)
		d.size(&sh.MaxBody, sp+"max_body", router.DefaultShadowMaxBody)
		d.num(&sh.SampleSize, sp+"sample_size", defaultShadowSamples)
		d.float(&sh.NoiseSample, sp+"noise_sample", router.DefaultNoiseSample)
	}
}
