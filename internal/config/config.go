package config

import "github.com/edged/edged/limits"

// Config is a decoded, defaulted and validated router.toml. Load and Decode
// only ever return a Config that passed validation; build one by hand only in
// tests. Its fields mirror the file's tables: [server], [admin], [runtime],
// [tracing], [upstreams.NAME], [functions.NAME], [secrets.NAME] and [[routes]].
type Config struct {
	Server  Server  `toml:"server"`
	Admin   Admin   `toml:"admin"`
	Runtime Runtime `toml:"runtime"`
	// Auth is [auth], the accepted credentials; nil when the file has no
	// [auth] table (then no route may require auth).
	Auth *Auth `toml:"auth"`
	// Pricing is [pricing], the prices of the cost report; every key has a
	// default.
	Pricing Pricing `toml:"pricing"`
	// Tracing is [tracing], the OTLP export of request spans and how
	// incoming trace context is treated; every key has a default, and an
	// empty Endpoint exports nothing.
	Tracing Tracing `toml:"tracing"`
	// Events is [events], the NATS JetStream engine (docs/events.md). nil
	// when the file has no [events] table and uses no events (no
	// [[triggers]], enqueue route or publish list); a file that uses events
	// without the table gets its defaults, the embedded server.
	Events *Events `toml:"events"`
	// Triggers are the event triggers in file order ([[triggers]]).
	Triggers []Trigger `toml:"triggers"`
	// Fleet is [fleet], where the route state lives: this node's file, or
	// NATS shared by every node (docs/fleet.md); every key has a default.
	Fleet Fleet `toml:"fleet"`

	// Upstreams are the legacy HTTP backends, by name ([upstreams.NAME]).
	Upstreams map[string]Upstream `toml:"upstreams"`
	// Functions are the WebAssembly guests, by name ([functions.NAME]).
	Functions map[string]Function `toml:"functions"`
	// Secrets say where each secret's value comes from ([secrets.NAME]).
	// Values are not read by this package.
	Secrets map[string]Secret `toml:"secrets"`
	// Routes is the routing table in file order ([[routes]]). Matching is by
	// host and longest path prefix, so the order does not decide precedence.
	Routes []Route `toml:"routes"`

	// Dir is the absolute directory that relative paths in the file were
	// resolved against: the directory of the file for Load, the dir argument
	// of Decode. After decoding, every path field (Admin.TokenFile,
	// Runtime.CacheDir, Runtime.StateDir, Events.StoreDir, Function.Module,
	// Secret.File) is already absolute; Dir is kept for reloads and
	// messages.
	Dir string `toml:"-"`
}

// Server is [server], the public listener (fasthttp).
type Server struct {
	// Listen is the address to serve on, "host:port". Default ":8080" (all
	// interfaces).
	Listen string `toml:"listen"`
	// ReadTimeout bounds reading one whole request, headers and body.
	// Default router.DefaultServerReadTimeout ("30s"); from above 0 to "1h".
	ReadTimeout limits.Duration `toml:"read_timeout"`
	// WriteTimeout bounds each write of a response to the client (a client
	// that takes no bytes for this long is cut off), not the whole response,
	// so long streamed downloads complete. Default
	// router.DefaultServerWriteTimeout ("30s"); from above 0 to "1h".
	WriteTimeout limits.Duration `toml:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request. Default router.DefaultServerIdleTimeout ("60s"); from above 0
	// to "1h".
	IdleTimeout limits.Duration `toml:"idle_timeout"`
	// ShutdownTimeout is how long SIGTERM waits for in-flight requests to
	// finish, after DrainDelay, before connections are closed. Default
	// "15s"; from above 0 to "1h".
	ShutdownTimeout limits.Duration `toml:"shutdown_timeout"`
	// DrainDelay is how long SIGTERM keeps serving, with the admin
	// listener's /readyz answering 503, before it stops accepting
	// connections and drains: the time a load balancer needs to see the
	// 503 and take edged out of rotation. Default "5s" (DrainDelay plus
	// ShutdownTimeout stays under Kubernetes' 30s grace period); 0 drains at
	// once; at most "5m". `edged dev` skips it.
	DrainDelay limits.Duration `toml:"drain_delay"`
	// MaxRequestBody is the largest request body accepted (413 above it).
	// Default router.DefaultMaxRequestBody ("4MiB"); from 1 byte to
	// "1GiB" (bodies are buffered in memory).
	MaxRequestBody limits.Size `toml:"max_request_body"`
	// MaxHeaderSize is the largest request line plus headers accepted (431
	// above it); it is also the read buffer of every connection. Default
	// router.DefaultMaxHeaderSize ("16KiB"); from 1KiB to "1MiB".
	MaxHeaderSize limits.Size `toml:"max_header_size"`
	// ForwardedFor says what to do with an incoming X-Forwarded-For:
	// "overwrite" (default; right for an edge, where clients could forge it)
	// replaces it with the client address, "append" (behind a trusted load
	// balancer) appends the client address to it.
	ForwardedFor string `toml:"forwarded_for"`
	// TrustedProxies lists the load balancers in front of edged, as CIDR
	// prefixes or single addresses, whose X-Forwarded-For names the client
	// for rate limits, idempotency keys, canary stickiness and traces (the
	// nearest address outside the list). Default none: the TCP peer is the
	// client. Unlike the rest of [server], it changes on reload.
	TrustedProxies []string `toml:"trusted_proxies"`
	// AccessLog writes one log line per request (method, path, status,
	// duration, route, stage, client, trace id) at info level. Default
	// false: a line per request costs CPU at high rates.
	AccessLog bool `toml:"access_log"`
}

// Admin is [admin], the admin API's own listener.
type Admin struct {
	// Listen is the admin address, "host:port". Default "127.0.0.1:9901".
	// A host that is not a loopback address (or "localhost") is refused
	// unless AllowRemote is set, because the admin API can move traffic.
	Listen string `toml:"listen"`
	// TokenFile is the file holding the bearer token the admin API requires.
	// Required. Relative to Config.Dir. It need not exist when the file is
	// validated: `edged dev` creates it.
	TokenFile string `toml:"token_file"`
	// AllowRemote permits a non-loopback Listen. Default false.
	AllowRemote bool `toml:"allow_remote"`
}

// Runtime is [runtime], the WebAssembly runtime shared by all functions.
type Runtime struct {
	// CacheDir holds wazero's compilation cache, so a restart skips
	// compiling. Default ".edged/cache", relative to Config.Dir.
	CacheDir string `toml:"cache_dir"`
	// StateDir holds persisted migration state. Default ".edged/state",
	// relative to Config.Dir.
	StateDir string `toml:"state_dir"`
	// MaxConcurrentExecutions bounds how many invocations run guest code at
	// once across all functions, so deadlines stay honest. 0 (the default)
	// means GOMAXPROCS, resolved by the daemon; must not be negative.
	MaxConcurrentExecutions int `toml:"max_concurrent_executions"`
}

// Upstream is [upstreams.NAME], a legacy HTTP backend and its connection pool.
type Upstream struct {
	// URL is "http://host:port" or "https://host:port": scheme and host only,
	// no path, query, fragment or user info. Required.
	URL string `toml:"url"`
	// MaxConns caps open connections to the upstream. Default 512; if set,
	// must be > 0.
	MaxConns int `toml:"max_conns"`
	// MaxConnWait is how long a request waits for a free connection when
	// MaxConns are busy before it fails with 503. Default "1s"; if set, must
	// be > 0.
	MaxConnWait limits.Duration `toml:"max_conn_wait"`
	// ConnectTimeout bounds dialing (and the TLS handshake). Default "2s";
	// if set, must be > 0.
	ConnectTimeout limits.Duration `toml:"connect_timeout"`
	// ResponseTimeout bounds the wait for the first byte of the response.
	// Default "30s"; if set, must be > 0.
	ResponseTimeout limits.Duration `toml:"response_timeout"`
	// IdleTimeout bounds each read of a streamed response body, and how long
	// an idle pooled connection is kept. Default "60s"; if set, must be > 0.
	IdleTimeout limits.Duration `toml:"idle_timeout"`
	// MaxResponseBody caps the response body proxied back. 0 (the default)
	// means no cap: the legacy path streams, as nginx does.
	MaxResponseBody limits.Size `toml:"max_response_body"`
}

// Secret is [secrets.NAME]: where a secret's value comes from. Exactly one of
// Env and File is set. The value is read by the daemon, not by this package,
// and only functions that list NAME in their secrets can read it.
type Secret struct {
	// Env names the environment variable holding the value.
	Env string `toml:"env"`
	// File is a file holding the value (one trailing newline is the
	// reader's to strip). Relative to Config.Dir. Not checked for existence
	// here, so a config can be validated on a machine without the secrets.
	File string `toml:"file"`
}

// Function is [functions.NAME], a WebAssembly guest and its limits. Exactly
// one of Module and URL is set.
//
// The limit fields (Timeout, Memory, the body and log caps, and the egress
// fields) default to limits.Policy's defaults, filled in at decode time so
// the Config shows the effective values; Policy converts them.
type Function struct {
	// Module is the path of the .wasm file, relative to Config.Dir. It must
	// exist when the file is validated.
	Module string `toml:"module"`
	// URL is where to fetch the module from: https only, and SHA256 is
	// required so that what runs is what was reviewed.
	URL string `toml:"url"`
	// SHA256 is the SHA-256 of the module as 64 lower-case hex digits. Required with
	// URL; optional with Module, where the loader checks it too.
	SHA256 string `toml:"sha256"`

	// Timeout is the wall-clock deadline of one invocation. Default from
	// limits.Policy; if set, must be > 0.
	Timeout limits.Duration `toml:"timeout"`
	// Memory caps the guest's linear memory. Default from limits.Policy; if
	// set, must be > 0.
	Memory limits.Size `toml:"memory"`
	// MaxRequestBody caps the request body the guest can read. Default from
	// limits.Policy; if set, must be > 0.
	MaxRequestBody limits.Size `toml:"max_request_body"`
	// MaxResponseBody caps the response body the guest can write. Default
	// from limits.Policy; if set, must be > 0.
	MaxResponseBody limits.Size `toml:"max_response_body"`
	// MaxLogBytes caps the guest's log and stdout/stderr output per
	// invocation. Default from limits.Policy; if set, must be > 0.
	MaxLogBytes limits.Size `toml:"max_log_bytes"`

	// MinInstances is how many instances are kept warm (like provisioned
	// concurrency). Default 0; must not be negative or exceed MaxInstances.
	MinInstances int `toml:"min_instances"`
	// MaxInstances caps concurrent instances of this function. Default 16;
	// if set, must be > 0.
	MaxInstances int `toml:"max_instances"`
	// IdleTimeout tears down instances above MinInstances that have been
	// idle this long. Default "60s"; if set, must be > 0.
	IdleTimeout limits.Duration `toml:"idle_timeout"`
	// MaxWait is how long a request waits for an instance when MaxInstances
	// are busy before it fails with 503. Default "1s"; if set, must be > 0.
	MaxWait limits.Duration `toml:"max_wait"`
	// Fresh runs every request in a new instance (strongest isolation, no
	// state carried between requests); the pool settings are then unused.
	// Default false.
	Fresh bool `toml:"fresh"`

	// AllowedHosts is the egress allow-list, "scheme://host[:port]" patterns
	// with wildcards (limits.ParsePattern). Empty (the default) denies all
	// egress.
	AllowedHosts []string `toml:"allowed_hosts"`
	// MaxSubrequests caps outbound fetches per invocation, redirects
	// included. Default limits.DefaultMaxSubrequests when AllowedHosts is
	// non-empty, else 0. With AllowedHosts it must be > 0 (deny egress by
	// leaving AllowedHosts empty); it is never negative.
	MaxSubrequests int `toml:"max_subrequests"`
	// SubrequestTimeout bounds each outbound fetch. Default from
	// limits.Policy; if set, must be > 0.
	SubrequestTimeout limits.Duration `toml:"subrequest_timeout"`
	// MaxSubrequestBody caps each outbound fetch's response body. Default
	// from limits.Policy; if set, must be > 0.
	MaxSubrequestBody limits.Size `toml:"max_subrequest_body"`

	// Secrets names the [secrets.NAME] entries this function may read.
	Secrets []string `toml:"secrets"`
	// Env is the guest's WASI environment; nothing else is passed.
	Env map[string]string `toml:"env"`
	// Config is an opaque string the guest reads with get_config.
	Config string `toml:"config"`
	// Publish lists the NATS subject patterns the guest may publish events
	// to with edged.publish (`*` one token, a final `>` one or more; not
	// starting with '$'). Empty (the default) allows none.
	Publish []string `toml:"publish"`
}

// Stages of a route, in the order a feature moves through them.
const (
	StageLegacy  = "legacy"  // the upstream answers
	StageShadow  = "shadow"  // the upstream answers; the function is mirrored and compared
	StageCanary  = "canary"  // Weight percent of users go to the function
	StageIsolate = "isolate" // the function answers; safe requests fall back to the upstream
	StageRetired = "retired" // the function alone
)

// Route is one [[routes]] entry.
type Route struct {
	// Name identifies the route in the admin API and CLI. Required, unique,
	// letters, digits, '-' and '_' only.
	Name string `toml:"name"`
	// Path is the path prefix matched; it must start with "/". Required.
	Path string `toml:"path"`
	// Host restricts the route to one Host header (no port); "" matches any
	// host.
	Host string `toml:"host"`
	// Methods restricts the route to these upper-case methods; empty matches
	// any method.
	Methods []string `toml:"methods"`
	// Upstream names an [upstreams.NAME]. Required for every stage but
	// retired.
	Upstream string `toml:"upstream"`
	// Function names a [functions.NAME]. Required for every stage but legacy.
	Function string `toml:"function"`
	// Stage is one of legacy, shadow, canary, isolate, retired (the Stage
	// constants). Required.
	Stage string `toml:"stage"`
	// Weight is the percentage (0..100) of users sent to the function at the
	// canary stage. Default 0.
	Weight int `toml:"weight"`
	// Sticky chooses what keeps a user on one side of a canary:
	// "header:NAME", "cookie:NAME" or "ip" (the client address, the
	// default).
	Sticky string `toml:"sticky"`
	// MirrorUnsafe lets the shadow stage mirror unsafe methods (POST, ...)
	// to the function too. Default false: only GET, HEAD and OPTIONS are
	// mirrored, since a mirrored write could act twice.
	MirrorUnsafe bool `toml:"mirror_unsafe"`
	// Fallback, at the isolate stage, retries a failed invocation (trap,
	// timeout, limit) on the upstream when that is safe. Never nil after
	// decoding; default true.
	Fallback *bool `toml:"fallback"`
	// Shadow configures the comparison ([routes.shadow]). Filled with
	// defaults when nil and the route is at, or its migration starts at, the
	// shadow stage; otherwise it stays as written.
	Shadow *Shadow `toml:"shadow"`
	// Migration is the automatic migration plan ([routes.migration]), nil
	// for none. It needs both Function and Upstream.
	Migration *Migration `toml:"migration"`

	// Auth is "none" (default) or "required" (the AuthNone and
	// AuthRequired constants). "required" needs an [auth] table.
	Auth string `toml:"auth"`
	// Scopes are the scopes a credential must grant (403 otherwise). Only
	// with auth = "required".
	Scopes []string `toml:"scopes"`
	// RateLimit limits each client of the route ([routes.rate_limit]); nil
	// for no limit.
	RateLimit *RateLimit `toml:"rate_limit"`
	// Idempotency configures idempotency keys ([routes.idempotency]); nil
	// or Enabled false for none.
	Idempotency *Idempotency `toml:"idempotency"`
	// Record configures recording a corpus for replay ([routes.record]); nil
	// records only on demand, with the defaults.
	Record *Record `toml:"record"`
	// Enqueue makes the route accept each request as an event published on
	// this NATS subject (no wildcards) and answer 202 Accepted with its id,
	// after the gateway (auth, rate limit, body cap) has run. An enqueue
	// route has no stage, upstream, function or migration: the trigger on
	// the subject runs the function.
	Enqueue string `toml:"enqueue"`
}

// Shadow is [routes.shadow]: how mirrored responses are compared.
type Shadow struct {
	// CompareHeaders lists the response headers that must match, besides
	// status and body. Default none.
	CompareHeaders []string `toml:"compare_headers"`
	// Ignore lists JSON paths left out of the body comparison, such as
	// "$.timestamp" or "$.items[*].id": "$" followed by ".name", ".*",
	// "[N]" or "[*]" steps.
	Ignore []string `toml:"ignore"`
	// MaxConcurrent caps mirrored requests in flight for the route; above
	// it, mirroring is skipped (never the user's request). Default 16; if
	// set, must be > 0.
	MaxConcurrent int `toml:"max_concurrent"`
	// MaxBody caps the bytes of each body kept for comparison; larger
	// bodies are compared by status and headers only. Default "1MiB"; if
	// set, must be > 0.
	MaxBody limits.Size `toml:"max_body"`
	// SampleSize is meant to be how many mismatching exchanges are kept for
	// inspection. Default 20; must not be negative. Validated only: the
	// router keeps the last 20 whatever it says.
	SampleSize int `toml:"sample_size"`
	// NoiseSample is the share (0..1) of mirrored safe requests that are
	// also sent to legacy a second time, so that fields where legacy
	// differs from itself (timestamps, request ids) are learned as noise
	// and not counted as mismatches (Diffy's baseline). Default 0.1; 0 turns
	// the baseline off.
	NoiseSample float64 `toml:"noise_sample"`
}

// Migration is [routes.migration]: an automatic plan that raises the canary
// weight step by step while the gates hold, and rolls back or pauses when
// one fails.
type Migration struct {
	// Start is the stage the plan begins at: "canary" (default) or
	// "shadow" (compare first, then canary).
	Start string `toml:"start"`
	// Steps are the canary weights in percent, strictly increasing, each
	// 1..100. Required, non-empty. Reaching 100 promotes to isolate.
	Steps []int `toml:"steps"`
	// Interval is the least time spent at each step. Default "1m"; if set,
	// must be > 0.
	Interval limits.Duration `toml:"interval"`
	// MinRequests is the least number of isolate requests (shadow
	// comparisons in the shadow stage) at a step before its gates are
	// judged; a failing gate acts as soon as they are in, a passing one
	// waits for the interval too. Default 100; 0 counts as 1.
	MinRequests int `toml:"min_requests"`
	// MaxErrorRate is the highest tolerated error rate (0..1: 5xx answers
	// and limit breaches) of the function above legacy's own rate on the
	// same route in the same step: 0.01 lets the isolate fail one request in
	// a hundred more often than the monolith. Default 0.01.
	MaxErrorRate float64 `toml:"max_error_rate"`
	// MaxLatencyRatio is the highest tolerated ratio of the function's p99
	// latency to legacy's (> 0). Default 1.5.
	MaxLatencyRatio float64 `toml:"max_latency_ratio"`
	// MaxMismatchRate is the highest tolerated fraction (0..1) of shadow
	// mismatches. Default 0.01.
	MaxMismatchRate float64 `toml:"max_mismatch_rate"`
	// OnFailure is what a failed gate does: "rollback" (default; back to
	// legacy) or "pause" (stay at the current step for an operator).
	OnFailure string `toml:"on_failure"`
}
