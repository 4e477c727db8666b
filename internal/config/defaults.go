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
func applyDefaults(c *Config, set map[string]bool) {
	unset := func(path string) bool { return !set[path] }
	str := func(p *string, path, def string) {
		if unset(path) {
			*p = def
		}
	}
	dur := func(p *limits.Duration, path string, def time.Duration) {
		if unset(path) {
			*p = limits.Duration(def)
		}
	}
	size := func(p *limits.Size, path string, def limits.Size) {
		if unset(path) {
			*p = def
		}
	}
	num := func(p *int, path string, def int) {
		if unset(path) {
			*p = def
		}
	}
	float := func(p *float64, path string, def float64) {
		if unset(path) {
			*p = def
		}
	}

	s := &c.Server
	str(&s.Listen, "server.listen", defaultListen)
	// The listener's limits are the router's own defaults, so that edged and
	// an embedding program cannot disagree.
	dur(&s.ReadTimeout, "server.read_timeout", router.DefaultServerReadTimeout)
	dur(&s.WriteTimeout, "server.write_timeout", router.DefaultServerWriteTimeout)
	dur(&s.IdleTimeout, "server.idle_timeout", router.DefaultServerIdleTimeout)
	dur(&s.ShutdownTimeout, "server.shutdown_timeout", defaultShutdownTimeout)
	dur(&s.DrainDelay, "server.drain_delay", defaultDrainDelay)
	size(&s.MaxRequestBody, "server.max_request_body", router.DefaultMaxRequestBody)
	size(&s.MaxHeaderSize, "server.max_header_size", router.DefaultMaxHeaderSize)
	str(&s.ForwardedFor, "server.forwarded_for", defaultForwardedFor)

	str(&c.Admin.Listen, "admin.listen", defaultAdminListen)
	defaultPricing(c, set)
	defaultTracing(c, set)
	defaultEvents(c, set)
	defaultFleet(c, set)
	str(&c.Runtime.CacheDir, "runtime.cache_dir", defaultCacheDir)
	str(&c.Runtime.StateDir, "runtime.state_dir", defaultStateDir)

	if a := c.Auth; a != nil {
		dur(&a.ClockSkew, "auth.clock_skew", defaultAuthClockSkew)
		size(&a.MaxTokenBytes, "auth.max_token_bytes", defaultAuthMaxTokenBytes)
		str(&a.HeaderPrefix, "auth.header_prefix", defaultAuthHeaderPrefix)
		dur(&a.JWTCacheTTL, "auth.jwt_cache_ttl", defaultJWTCacheTTL)
		num(&a.JWTCacheEntries, "auth.jwt_cache_entries", defaultJWTCacheEntries)
	}

	for name, u := range c.Upstreams {
		p := "upstreams." + keyPart(name) + "."
		num(&u.MaxConns, p+"max_conns", proxy.DefaultMaxConns)
		dur(&u.MaxConnWait, p+"max_conn_wait", proxy.DefaultMaxConnWait)
		dur(&u.ConnectTimeout, p+"connect_timeout", proxy.DefaultConnectTimeout)
		dur(&u.ResponseTimeout, p+"response_timeout", proxy.DefaultResponseTimeout)
		dur(&u.IdleTimeout, p+"idle_timeout", proxy.DefaultIdleTimeout)
		c.Upstreams[name] = u
	}

	// The limit defaults belong to limits.Policy; copying them here makes
	// the Config show the values that will be enforced.
	pol := limits.Policy{}.WithDefaults()
	for name, f := range c.Functions {
		p := "functions." + keyPart(name) + "."
		dur(&f.Timeout, p+"timeout", pol.Timeout)
		size(&f.Memory, p+"memory", pol.Memory)
		size(&f.MaxRequestBody, p+"max_request_body", pol.MaxRequestBody)
		size(&f.MaxResponseBody, p+"max_response_body", pol.MaxResponseBody)
		size(&f.MaxLogBytes, p+"max_log_bytes", pol.MaxLogBytes)
		num(&f.MaxInstances, p+"max_instances", isolate.DefaultMaxInstances)
		dur(&f.IdleTimeout, p+"idle_timeout", isolate.DefaultIdleTimeout)
		dur(&f.MaxWait, p+"max_wait", isolate.DefaultMaxWait)
		// limits.Egress gives no subrequests to a function with no egress
		// allowed, and DefaultMaxSubrequests otherwise.
		if len(f.AllowedHosts) > 0 {
			num(&f.MaxSubrequests, p+"max_subrequests", limits.DefaultMaxSubrequests)
		}
		dur(&f.SubrequestTimeout, p+"subrequest_timeout", pol.Egress.SubrequestTimeout)
		size(&f.MaxSubrequestBody, p+"max_subrequest_body", pol.Egress.MaxSubrequestBody)
		c.Functions[name] = f
	}

	for i := range c.Routes {
		r := &c.Routes[i]
		p := "routes[" + strconv.Itoa(i) + "]."
		str(&r.Sticky, p+"sticky", "ip")
		str(&r.Auth, p+"auth", defaultRouteAuth)
		if rl := r.RateLimit; rl != nil {
			str(&rl.Key, p+"rate_limit.key", defaultRateKey)
			if rate, err := limits.ParseRate(rl.Rate); err == nil {
				num(&rl.Burst, p+"rate_limit.burst", defaultBurst(rate))
			}
			num(&rl.MaxClients, p+"rate_limit.max_clients", defaultRateMaxClients)
			str(&rl.Scope, p+"rate_limit.scope", defaultRateScope)
			dur(&rl.SyncInterval, p+"rate_limit.sync_interval", fleetrate.DefaultSyncInterval)
		}
		if id := r.Idempotency; id != nil {
			dur(&id.TTL, p+"idempotency.ttl", defaultIdemTTL)
			size(&id.MaxResponseBytes, p+"idempotency.max_response_bytes", defaultIdemMaxResponse)
			str(&id.OnConcurrent, p+"idempotency.on_concurrent", defaultIdemOnConcurrent)
			num(&id.MaxKeys, p+"idempotency.max_keys", defaultIdemMaxKeys)
			size(&id.MaxStoredBytes, p+"idempotency.max_stored_bytes", max(defaultIdemMaxStored, id.MaxResponseBytes))
		}
		if rec := r.Record; rec != nil {
			float(&rec.Sample, p+"record.sample", defaultRecordSample)
			size(&rec.MaxBytes, p+"record.max_bytes", defaultRecordMaxBytes)
		}
		if r.Fallback == nil {
			t := true
			r.Fallback = &t
		}
		if r.Migration != nil {
			m := r.Migration
			mp := p + "migration."
			str(&m.Start, mp+"start", defaultMigrationStart)
			dur(&m.Interval, mp+"interval", defaultInterval)
			num(&m.MinRequests, mp+"min_requests", defaultMinRequests)
			float(&m.MaxErrorRate, mp+"max_error_rate", defaultMaxErrorRate)
			float(&m.MaxLatencyRatio, mp+"max_latency_ratio", defaultMaxLatencyRatio)
			float(&m.MaxMismatchRate, mp+"max_mismatch_rate", defaultMaxMismatchRate)
			str(&m.OnFailure, mp+"on_failure", defaultOnFailure)
		}
		if r.Shadow == nil && (r.Stage == StageShadow || (r.Migration != nil && r.Migration.Start == StageShadow)) {
			r.Shadow = &Shadow{}
		}
		if r.Shadow != nil {
			sh := r.Shadow
			sp := p + "shadow."
			// The router's own defaults, as for [server].
			num(&sh.MaxConcurrent, sp+"max_concurrent", router.DefaultShadowMaxConcurrent)
			size(&sh.MaxBody, sp+"max_body", router.DefaultShadowMaxBody)
			num(&sh.SampleSize, sp+"sample_size", defaultShadowSamples)
			float(&sh.NoiseSample, sp+"noise_sample", router.DefaultNoiseSample)
		}
	}
}
