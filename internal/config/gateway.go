package config

import (
	"strconv"
	"strings"
	"time"

	"github.com/edged/edged/limits"
	"github.com/edged/edged/limits/fleetrate"
)

// Values of RateLimit.Scope.
const (
	RateScopeNode  = "node"  // each node keeps its own buckets: a fleet of N admits up to N times the rate
	RateScopeFleet = "fleet" // one approximate bucket per client for the fleet, over NATS (limits/fleetrate)
)

// Values of Route.Auth.
const (
	AuthNone     = "none"     // no credential checked (identity headers are still stripped)
	AuthRequired = "required" // a valid API key or JWT, with every scope in Route.Scopes
)

// Values of RateLimit.Key.
const (
	RateKeyIP      = "ip"      // the client address (IPv6 grouped by /64)
	RateKeySubject = "subject" // the verified subject (JWT sub or API key name); else the address
	RateKeyAPIKey  = "api_key" // the verified API key's name; else the subject, else the address
)

// Auth is [auth]: the credentials edged accepts on routes with
// auth = "required". At least one of APIKeyFile, JWTKeyFile, JWTSecretFile
// and JWKSFile is required. Every file is read when the daemon starts and
// again on reload (SIGHUP or POST /v1/reload), which is how keys rotate.
type Auth struct {
	// APIKeyFile holds hashed API keys, one "sha256:<hex> name [scope ...]"
	// per line (`auth.KeyLine` writes one). Relative to Config.Dir.
	APIKeyFile string `toml:"api_key_file"`
	// JWTKeyFile is a PEM file of RS256/ES256 public keys. Relative to
	// Config.Dir.
	JWTKeyFile string `toml:"jwt_key_file"`
	// JWTSecretFile holds the HS256 secret (at least 32 bytes). Relative to
	// Config.Dir.
	JWTSecretFile string `toml:"jwt_secret_file"`
	// JWKSFile is a JWK Set JSON file. Relative to Config.Dir.
	JWKSFile string `toml:"jwks_file"`
	// JWTAlgorithms lists the accepted algorithms among HS256, RS256 and
	// ES256. Default: every algorithm a key is configured for.
	JWTAlgorithms []string `toml:"jwt_algorithms"`
	// Issuer is the required "iss" claim; required when JWTs are accepted.
	Issuer string `toml:"issuer"`
	// Audience must appear in "aud"; required when JWTs are accepted.
	Audience string `toml:"audience"`
	// ClockSkew is the leeway for exp, nbf and iat. Default "60s"; from
	// above 0 to "10m".
	ClockSkew limits.Duration `toml:"clock_skew"`
	// MaxTokenBytes bounds a bearer token. Default "8KiB"; from 256 B to
	// "64KiB".
	MaxTokenBytes limits.Size `toml:"max_token_bytes"`
	// ForwardClaims names the JWT claims forwarded as
	// <header_prefix>Claim-<Name> headers. Default none.
	ForwardClaims []string `toml:"forward_claims"`
	// HeaderPrefix starts the identity header names; inbound headers with
	// it are deleted on every route. Default "X-Edged-Auth-".
	HeaderPrefix string `toml:"header_prefix"`
	// JWTCacheEntries bounds the cache of verified tokens, which spares a
	// client reusing its token the signature check. Default 4096; 0 turns
	// the cache off; at most 1048576.
	JWTCacheEntries int `toml:"jwt_cache_entries"`
	// JWTCacheTTL is the longest a cached verdict is used (never past the
	// token's exp). Default "1m"; from above 0 to "1h".
	JWTCacheTTL limits.Duration `toml:"jwt_cache_ttl"`
}

// RateLimit is [routes.rate_limit]: a token bucket per client.
type RateLimit struct {
	// Rate is the sustained rate per client, "EVENTS/PERIOD" such as
	// "100/s", "10/m" or "1/100ms" (limits.ParseRate). Required.
	Rate string `toml:"rate"`
	// Burst is how many requests an idle client may send at once. Default
	// the rate's events per second rounded up, at least 1; if set, must be
	// > 0.
	Burst int `toml:"burst"`
	// Key says what identifies a client: "ip" (default), "subject" or
	// "api_key" (the RateKey constants). Unauthenticated requests fall back
	// to the client address.
	Key string `toml:"key"`
	// MaxClients bounds the clients tracked at once; when full, the client
	// idle longest is forgotten (and comes back with a full bucket), so a
	// flood of distinct clients cannot grow memory. Default 100000; at most
	// 10000000.
	MaxClients int `toml:"max_clients"`
	// Scope says who shares the buckets: "node" (default; the rate is per
	// node, so a fleet of N nodes admits up to N times it) or "fleet" (one
	// approximate bucket per client for the whole fleet, over the NATS
	// connection of [events]; see docs/gateway.md for its error bound).
	Scope string `toml:"scope"`
	// SyncInterval is how often a node shares its clients' spending with
	// scope = "fleet": the overshoot grows with the rate times it. Default
	// "200ms"; from "10ms" to "10s".
	SyncInterval limits.Duration `toml:"sync_interval"`
}

// Idempotency is [routes.idempotency]: POST, PUT and PATCH requests with an
// Idempotency-Key header run once; duplicates get the stored response.
type Idempotency struct {
	// Enabled turns idempotency keys on for the route. Default false.
	Enabled bool `toml:"enabled"`
	// TTL is how long a response is kept for replay. Default "24h"; if set,
	// must be > 0.
	TTL limits.Duration `toml:"ttl"`
	// MaxResponseBytes caps one stored response; larger ones are not kept.
	// Default "1MiB"; if set, must be > 0.
	MaxResponseBytes limits.Size `toml:"max_response_bytes"`
	// OnConcurrent is what a duplicate arriving while the first request
	// runs gets: "wait" (default; the same answer) or "conflict" (409).
	OnConcurrent string `toml:"on_concurrent"`
	// MaxKeys bounds the keys held, running and stored together; the oldest
	// stored answers are evicted first, and a store full of running
	// requests answers 503. Default 10000; at most 10000000.
	MaxKeys int `toml:"max_keys"`
	// MaxStoredBytes bounds the stored answers together; the oldest are
	// evicted to fit. Default "64MiB"; at least max_response_bytes.
	MaxStoredBytes limits.Size `toml:"max_stored_bytes"`
}

// Gateway defaults.
const (
	defaultAuthClockSkew     = 60 * time.Second
	defaultAuthMaxTokenBytes = 8 * limits.KiB
	defaultAuthHeaderPrefix  = "X-Edged-Auth-"
	defaultRouteAuth         = AuthNone
	defaultRateKey           = RateKeyIP
	defaultRateScope         = RateScopeNode
	defaultIdemTTL           = 24 * time.Hour
	defaultIdemMaxResponse   = limits.MiB
	defaultIdemOnConcurrent  = "wait"
	defaultIdemMaxKeys       = 10_000
	defaultIdemMaxStored     = 64 * limits.MiB
	defaultRateMaxClients    = 100_000
	defaultJWTCacheEntries   = 4096
	defaultJWTCacheTTL       = time.Minute

	maxRateMaxClients  = 10_000_000
	maxIdemMaxKeys     = 10_000_000
	maxJWTCacheEntries = 1 << 20
	maxJWTCacheTTL     = time.Hour

	maxAuthClockSkew  = 10 * time.Minute
	minAuthTokenBytes = 256
	maxAuthTokenBytes = 64 * limits.KiB
)

// defaultBurst is the burst a rate gets when none is written: its events per
// second rounded up, at least 1 (the limiter's own default, shown in the
// Config).
func defaultBurst(r limits.Rate) int {
	perSec := float64(r.Events) * float64(time.Second) / float64(r.Per)
	b := int(perSec)
	if float64(b) < perSec {
		b++
	}
	return max(b, 1)
}

func validateAuth(p *problems, a *Auth) {
	if a.APIKeyFile == "" && a.JWTKeyFile == "" && a.JWTSecretFile == "" && a.JWKSFile == "" {
		p.add("auth", "needs at least one of api_key_file, jwt_key_file, jwt_secret_file, jwks_file")
	}
	jwt := a.JWTKeyFile != "" || a.JWTSecretFile != "" || a.JWKSFile != ""
	for i, alg := range a.JWTAlgorithms {
		switch alg {
		case "HS256", "RS256", "ES256":
		default:
			p.add("auth.jwt_algorithms["+strconv.Itoa(i)+"]", "%q is not one of HS256, RS256, ES256", alg)
		}
	}
	if len(a.JWTAlgorithms) > 0 && !jwt {
		p.add("auth.jwt_algorithms", "set without jwt_key_file, jwt_secret_file or jwks_file")
	}
	if jwt && a.Issuer == "" {
		p.add("auth.issuer", "required when JWTs are accepted")
	}
	if jwt && a.Audience == "" {
		p.add("auth.audience", "required when JWTs are accepted")
	}
	if d := time.Duration(a.ClockSkew); d <= 0 || d > maxAuthClockSkew {
		p.add("auth.clock_skew", "must be > 0 and at most %v", maxAuthClockSkew)
	}
	if n := a.MaxTokenBytes; n < minAuthTokenBytes || n > maxAuthTokenBytes {
		p.add("auth.max_token_bytes", "must be from %d bytes to 64KiB", minAuthTokenBytes)
	}
	for i, c := range a.ForwardClaims {
		if c == "" || !isToken(c) {
			p.add("auth.forward_claims["+strconv.Itoa(i)+"]", "%q is not a claim name usable in a header", c)
		}
	}
	if a.HeaderPrefix == "" || !isToken(a.HeaderPrefix) {
		p.add("auth.header_prefix", "%q must be a non-empty header name prefix", a.HeaderPrefix)
	}
	if n := a.JWTCacheEntries; n < 0 || n > maxJWTCacheEntries {
		p.add("auth.jwt_cache_entries", "must be from 0 (off) to %d", maxJWTCacheEntries)
	}
	if d := time.Duration(a.JWTCacheTTL); d <= 0 || d > maxJWTCacheTTL {
		p.add("auth.jwt_cache_ttl", "must be > 0 and at most %v", maxJWTCacheTTL)
	}
}

func validateRouteGateway(p *problems, path string, r Route, c *Config) {
	switch r.Auth {
	case AuthNone:
		if len(r.Scopes) > 0 {
			p.add(path+".scopes", `needs auth = "required"`)
		}
	case AuthRequired:
		if c.Auth == nil {
			p.add(path+".auth", `"required" needs an [auth] table`)
		}
	default:
		p.add(path+".auth", `must be "none" or "required", not %q`, r.Auth)
	}
	for j, s := range r.Scopes {
		if s == "" || strings.ContainsFunc(s, func(c rune) bool { return c <= ' ' || c >= 0x7f }) {
			p.add(path+".scopes["+strconv.Itoa(j)+"]", "%q must be printable ASCII without spaces", s)
		}
	}
	if rl := r.RateLimit; rl != nil {
		rp := path + ".rate_limit"
		rateOK := false
		if rl.Rate == "" {
			p.add(rp+".rate", `required, such as "100/s"`)
		} else if _, err := limits.ParseRate(rl.Rate); err != nil {
			p.add(rp+".rate", "%w", err)
		} else {
			rateOK = true
		}
		// An unset burst stays 0 when the rate is bad; that is one problem, not two.
		if rateOK || rl.Burst != 0 {
			p.positive(rp+".burst", int64(rl.Burst))
			p.atMost(rp+".burst", rl.Burst, maxBurst)
		}
		switch rl.Key {
		case RateKeyIP:
		case RateKeySubject, RateKeyAPIKey:
			if r.Auth != AuthRequired {
				p.add(rp+".key", `%q needs auth = "required"`, rl.Key)
			}
		default:
			p.add(rp+".key", `must be "ip", "subject" or "api_key", not %q`, rl.Key)
		}
		if rl.MaxClients <= 0 || rl.MaxClients > maxRateMaxClients {
			p.add(rp+".max_clients", "must be from 1 to %d", maxRateMaxClients)
		}
		switch rl.Scope {
		case RateScopeNode:
		case RateScopeFleet:
			if c.Events == nil {
				p.add(rp+".scope", `"fleet" needs the NATS connection of an [events] table`)
			}
		default:
			p.add(rp+".scope", `must be "node" or "fleet", not %q`, rl.Scope)
		}
		if d := rl.SyncInterval.Std(); d < fleetrate.MinSyncInterval || d > fleetrate.MaxSyncInterval {
			p.add(rp+".sync_interval", "must be from %v to %v", fleetrate.MinSyncInterval, fleetrate.MaxSyncInterval)
		}
	}
	if id := r.Idempotency; id != nil {
		ip := path + ".idempotency"
		p.positive(ip+".ttl", int64(id.TTL))
		p.positive(ip+".max_response_bytes", int64(id.MaxResponseBytes))
		p.sizeAtMost(ip+".max_response_bytes", id.MaxResponseBytes, maxIdemResponse)
		if id.OnConcurrent != "wait" && id.OnConcurrent != "conflict" {
			p.add(ip+".on_concurrent", `must be "wait" or "conflict", not %q`, id.OnConcurrent)
		}
		if id.MaxKeys <= 0 || id.MaxKeys > maxIdemMaxKeys {
			p.add(ip+".max_keys", "must be from 1 to %d", maxIdemMaxKeys)
		}
		if id.MaxStoredBytes < id.MaxResponseBytes {
			p.add(ip+".max_stored_bytes", "must be at least max_response_bytes (%v)", id.MaxResponseBytes)
		}
		p.sizeAtMost(ip+".max_stored_bytes", id.MaxStoredBytes, maxIdemStored)
	}
}
