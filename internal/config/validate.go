package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edged/edged/limits"
)

// problems collects FieldErrors in the order they are found, which is the
// file's order for routes and name order for the maps, so that messages are
// stable from run to run.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Err: fmt.Errorf(format, args...)})
}

func (p *problems) positive(path string, v int64) {
	if v <= 0 {
		p.add(path, "must be > 0")
	}
}

// Upper bounds of the sizes, counts and durations in the file. Each is far
// above any sensible setting and low enough that one value cannot make the
// daemon allocate more memory, or hold more instances, sockets or state, than
// a machine has: a typo such as max_header_size = "1TiB" (a read buffer of
// that size per connection) is refused by `edged validate` instead of
// killing the daemon on its first connection. docs/configuration.md lists them.
const (
	maxServerTimeout  = time.Hour        // server.*_timeout
	maxDrainDelay     = 5 * time.Minute  // server.drain_delay
	maxServerBody     = limits.GiB       // server.max_request_body: bodies are buffered
	minHeaderSize     = limits.KiB       // server.max_header_size: a request line must fit
	maxHeaderSize     = limits.MiB       // server.max_header_size: a buffer per connection
	maxExecutions     = 4096             // runtime.max_concurrent_executions
	maxUpstreamConns  = 65536            // upstreams.*.max_conns: one port range
	maxUpstreamBody   = limits.GiB       // upstreams.*.max_response_body
	maxFunctionBody   = 256 * limits.MiB // functions.*.max_request_body, max_response_body, max_subrequest_body
	maxLogBytes       = 16 * limits.MiB  // functions.*.max_log_bytes
	maxInstances      = 4096             // functions.*.min_instances, max_instances
	maxSubrequests    = 1000             // functions.*.max_subrequests
	maxShadowInFlight = 4096             // routes[].shadow.max_concurrent
	maxShadowBody     = 64 * limits.MiB  // routes[].shadow.max_body
	maxShadowSamples  = 10_000           // routes[].shadow.sample_size
	maxMinRequests    = 10_000_000       // routes[].migration.min_requests
	maxBurst          = 10_000_000       // routes[].rate_limit.burst
	maxIdemResponse   = 64 * limits.MiB  // routes[].idempotency.max_response_bytes
	maxIdemStored     = 4 * limits.GiB   // routes[].idempotency.max_stored_bytes
)

// atMost adds a problem when the count v is above hi.
func (p *problems) atMost(path string, v, hi int) {
	if v > hi {
		p.add(path, "must be at most %d", hi)
	}
}

// sizeAtMost adds a problem when the size v is above hi.
func (p *problems) sizeAtMost(path string, v, hi limits.Size) {
	if v > hi {
		p.add(path, "must be at most %s", hi)
	}
}

// durAtMost adds a problem when the duration v is above hi.
func (p *problems) durAtMost(path string, v limits.Duration, hi time.Duration) {
	if v.Std() > hi {
		p.add(path, "must be at most %v", hi)
	}
}

func (p *problems) nonNegative(path string, v int) {
	if v < 0 {
		p.add(path, "must be >= 0")
	}
}

// validate checks a defaulted Config and returns every problem. It does not
// modify c, and it is safe to run again on a Config that Decode returned
// (paths are absolute by then, so resolving them again changes nothing).
func validate(c *Config) []error {
	var p problems
	validateServer(&p, &c.Server)
	validateAdmin(&p, &c.Admin)
	validateRuntime(&p, &c.Runtime)
	validatePricing(&p, &c.Pricing)
	validateTracing(&p, &c.Tracing)
	if c.Auth != nil {
		validateAuth(&p, c.Auth)
	}
	for _, name := range sortedKeys(c.Upstreams) {
		validateUpstream(&p, "upstreams."+keyPart(name), name, c.Upstreams[name])
	}
	for _, name := range sortedKeys(c.Secrets) {
		validateSecret(&p, "secrets."+keyPart(name), name, c.Secrets[name])
	}
	for _, name := range sortedKeys(c.Functions) {
		validateFunction(&p, "functions."+keyPart(name), name, c.Functions[name], c)
	}
	validateRoutes(&p, c)
	validateEvents(&p, c)
	if !eventsBuilt && c.Events != nil {
		p.add("events", "%w", ErrEventsNotBuilt)
	}
	validateFleet(&p, c)
	return p
}

// ErrEventsNotBuilt refuses a file that needs the events engine ([events],
// [[triggers]], an enqueue route or a function's publish list) in a binary
// built without it (-tags noevents).
var ErrEventsNotBuilt = errors.New("this edged is built without events (-tags noevents): [events], [[triggers]], " +
	"enqueue routes and publish lists need a build with them")

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// validName accepts what can appear unescaped in an admin API path and a
// key path: letters, digits, '-' and '_'.
func validName(p *problems, path, name string) {
	if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
		p.add(path, "name %q must be non-empty letters, digits, '-' and '_'", name)
	}
}

// validListen checks a "host:port" listen address with a numeric port;
// port 0 (any free port) is allowed for tests.
func validListen(p *problems, path, addr string) (host string, ok bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(path, "%q is not host:port", addr)
		return "", false
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > math.MaxUint16 {
		p.add(path, "%q: port must be a number from 0 to 65535", addr)
		return "", false
	}
	return host, true
}

func validateServer(p *problems, s *Server) {
	validListen(p, "server.listen", s.Listen)
	for _, d := range []struct {
		key string
		v   limits.Duration
	}{
		{"read_timeout", s.ReadTimeout}, {"write_timeout", s.WriteTimeout},
		{"idle_timeout", s.IdleTimeout}, {"shutdown_timeout", s.ShutdownTimeout},
	} {
		p.positive("server."+d.key, int64(d.v))
		p.durAtMost("server."+d.key, d.v, maxServerTimeout)
	}
	if s.DrainDelay < 0 {
		p.add("server.drain_delay", "must be >= 0")
	}
	p.durAtMost("server.drain_delay", s.DrainDelay, maxDrainDelay)
	p.positive("server.max_request_body", int64(s.MaxRequestBody))
	p.sizeAtMost("server.max_request_body", s.MaxRequestBody, maxServerBody)
	if s.MaxHeaderSize < minHeaderSize || s.MaxHeaderSize > maxHeaderSize {
		p.add("server.max_header_size", "must be from %s to %s", limits.Size(minHeaderSize), limits.Size(maxHeaderSize))
	}
	for i, tp := range s.TrustedProxies {
		if _, err := ParseTrustedProxy(tp); err != nil {
			p.add("server.trusted_proxies["+strconv.Itoa(i)+"]", "%w", err)
		}
	}
	if s.ForwardedFor != "overwrite" && s.ForwardedFor != "append" {
		p.add("server.forwarded_for", `must be "overwrite" or "append", not %q`, s.ForwardedFor)
	}
}

func validateAdmin(p *problems, a *Admin) {
	if host, ok := validListen(p, "admin.listen", a.Listen); ok && !a.AllowRemote && !isLoopback(host) {
		p.add("admin.listen", "%q is not a loopback address; set admin.allow_remote = true to expose the admin API", a.Listen)
	}
	if a.TokenFile == "" {
		p.add("admin.token_file", "required: the file holding the admin API's bearer token")
	}
}

// isLoopback reports whether a listen host only accepts local connections.
// An empty host means every interface.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func validateRuntime(p *problems, r *Runtime) {
	if r.CacheDir == "" {
		p.add("runtime.cache_dir", "must not be empty")
	}
	if r.StateDir == "" {
		p.add("runtime.state_dir", "must not be empty")
	}
	p.nonNegative("runtime.max_concurrent_executions", r.MaxConcurrentExecutions)
	p.atMost("runtime.max_concurrent_executions", r.MaxConcurrentExecutions, maxExecutions)
}

func validateUpstream(p *problems, path, name string, u Upstream) {
	validName(p, path, name)
	switch {
	case u.URL == "":
		p.add(path+".url", "required")
	default:
		if err := checkUpstreamURL(u.URL); err != nil {
			p.add(path+".url", "%q: %w", u.URL, err)
		}
	}
	p.positive(path+".max_conns", int64(u.MaxConns))
	p.atMost(path+".max_conns", u.MaxConns, maxUpstreamConns)
	p.positive(path+".max_conn_wait", int64(u.MaxConnWait))
	p.positive(path+".connect_timeout", int64(u.ConnectTimeout))
	p.positive(path+".response_timeout", int64(u.ResponseTimeout))
	p.positive(path+".idle_timeout", int64(u.IdleTimeout))
	if u.MaxResponseBody < 0 {
		p.add(path+".max_response_body", "must be >= 0")
	}
	p.sizeAtMost(path+".max_response_body", u.MaxResponseBody, maxUpstreamBody)
}

func checkUpstreamURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL (want http://host:port)")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("missing host")
	case u.User != nil:
		return errors.New("user info is not allowed")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.ForceQuery:
		return errors.New("only scheme://host[:port] is allowed (no path, query or fragment)")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return errors.New("port must be a number from 1 to 65535")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return errors.New("empty port")
	}
	return nil
}

func validateSecret(p *problems, path, name string, s Secret) {
	validName(p, path, name)
	switch {
	case s.Env == "" && s.File == "":
		p.add(path, "set exactly one of env and file")
	case s.Env != "" && s.File != "":
		p.add(path, "set exactly one of env and file, not both")
	case s.Env != "" && !validEnvName(s.Env):
		p.add(path+".env", "%q is not an environment variable name", s.Env)
	}
}

// validEnvName accepts POSIX names: letters, digits and '_', not starting
// with a digit.
func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == ""
}

func validateFunction(p *problems, path, name string, f Function, c *Config) {
	before := len(*p)
	validName(p, path, name)
	validateSource(p, path, f, c.Dir)

	p.positive(path+".timeout", int64(f.Timeout))
	switch {
	case f.Memory < limits.WasmPageSize:
		p.add(path+".memory", "must be at least %s (one wasm page)", limits.WasmPageSize)
	case f.Memory > limits.MaxMemory:
		p.add(path+".memory", "must be at most %s (the wasm32 limit)", limits.Size(limits.MaxMemory))
	}
	p.positive(path+".max_request_body", int64(f.MaxRequestBody))
	p.sizeAtMost(path+".max_request_body", f.MaxRequestBody, maxFunctionBody)
	p.positive(path+".max_response_body", int64(f.MaxResponseBody))
	p.sizeAtMost(path+".max_response_body", f.MaxResponseBody, maxFunctionBody)
	p.positive(path+".max_log_bytes", int64(f.MaxLogBytes))
	p.sizeAtMost(path+".max_log_bytes", f.MaxLogBytes, maxLogBytes)

	p.nonNegative(path+".min_instances", f.MinInstances)
	p.atMost(path+".min_instances", f.MinInstances, maxInstances)
	p.positive(path+".max_instances", int64(f.MaxInstances))
	p.atMost(path+".max_instances", f.MaxInstances, maxInstances)
	if f.MinInstances > f.MaxInstances && f.MaxInstances > 0 {
		p.add(path+".min_instances", "must not exceed max_instances (%d)", f.MaxInstances)
	}
	p.positive(path+".idle_timeout", int64(f.IdleTimeout))
	p.positive(path+".max_wait", int64(f.MaxWait))

	pol, errs := f.policy(path + ".")
	*p = append(*p, errs...)
	if len(f.AllowedHosts) > 0 {
		p.positive(path+".max_subrequests", int64(f.MaxSubrequests))
	} else {
		p.nonNegative(path+".max_subrequests", f.MaxSubrequests)
	}
	p.atMost(path+".max_subrequests", f.MaxSubrequests, maxSubrequests)
	p.positive(path+".subrequest_timeout", int64(f.SubrequestTimeout))
	p.positive(path+".max_subrequest_body", int64(f.MaxSubrequestBody))
	p.sizeAtMost(path+".max_subrequest_body", f.MaxSubrequestBody, maxFunctionBody)
	// limits has the last word on its own policy; the checks above give
	// better paths, so this only speaks if they found nothing.
	if len(*p) == before {
		if err := pol.Validate(); err != nil {
			p.add(path, "limits: %w", err)
		}
	}

	validatePublish(p, path+".publish", f.Publish)
	validateEnv(p, path, f, c)
}

// validateSource checks where the function's module comes from: a file under
// dir, or an https URL pinned by its SHA-256.
func validateSource(p *problems, path string, f Function, dir string) {
	switch {
	case f.Module == "" && f.URL == "":
		p.add(path, "set exactly one of module and url")
	case f.Module != "" && f.URL != "":
		p.add(path, "set exactly one of module and url, not both")
	case f.Module != "":
		checkModule(p, path+".module", f.Module, dir)
	default:
		if u, err := url.Parse(f.URL); err != nil || u.Scheme != "https" || u.Host == "" {
			p.add(path+".url", "%q: must be an https:// URL", f.URL)
		}
		if f.SHA256 == "" {
			p.add(path+".sha256", "required with url: a fetched module must be pinned by its SHA-256")
		}
	}
	if f.SHA256 != "" {
		// Lower case only, so that loaders can compare strings.
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != 32 || strings.ToLower(f.SHA256) != f.SHA256 {
			p.add(path+".sha256", "must be 64 lower-case hex digits")
		}
	}
}

// validateEnv checks what the function is given besides its module: secrets
// defined in c, and environment variables with valid names and values.
func validateEnv(p *problems, path string, f Function, c *Config) {
	for i, s := range f.Secrets {
		if _, ok := c.Secrets[s]; !ok {
			p.add(fmt.Sprintf("%s.secrets[%d]", path, i), "[secrets.%s] is %w", s, ErrUndefined)
		}
	}
	for _, k := range sortedKeys(f.Env) {
		if !validEnvName(k) {
			p.add(path+".env", "%q is not an environment variable name", k)
		}
		if strings.IndexByte(f.Env[k], 0) >= 0 {
			p.add(path+".env."+keyPart(k), "must not contain NUL")
		}
	}
}

// checkModule requires the module to be a regular file. The message quotes
// the path as written; a missing file wraps fs.ErrNotExist so that tools can
// tell "not built yet" from a broken config.
func checkModule(p *problems, path, module, dir string) {
	fi, err := os.Stat(resolve(dir, module))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.add(path, "%q: %w", module, fs.ErrNotExist)
	case err != nil:
		p.add(path, "%q: %w", module, errors.Unwrap(err))
	case !fi.Mode().IsRegular():
		p.add(path, "%q is not a regular file", module)
	}
}

var (
	stages     = []string{StageLegacy, StageShadow, StageCanary, StageIsolate, StageRetired}
	errMethods = errors.New("must be an upper-case HTTP method token such as GET")
)

func validateRoutes(p *problems, c *Config) {
	names := make(map[string]int, len(c.Routes))
	matches := make(map[string]int, len(c.Routes))
	for i, r := range c.Routes {
		path := "routes[" + strconv.Itoa(i) + "]"
		if r.Record != nil {
			validateRecord(p, path+".record", r.Record)
		}
		if r.Name == "" {
			p.add(path+".name", "required")
		} else {
			validName(p, path+".name", r.Name)
			if j, dup := names[r.Name]; dup {
				p.add(path+".name", "%q is already used by routes[%d]", r.Name, j)
			} else {
				names[r.Name] = i
			}
		}
		switch {
		case r.Path == "":
			p.add(path+".path", "required")
		case r.Path[0] != '/':
			p.add(path+".path", "%q must start with \"/\"", r.Path)
		case strings.ContainsAny(r.Path, "?# \t\r\n"):
			p.add(path+".path", "%q must be a plain path (no query, fragment or spaces)", r.Path)
		}
		if r.Host != "" && !validHost(r.Host) {
			p.add(path+".host", "%q is not a host name or IP address (no scheme or port)", r.Host)
		}
		for j, m := range r.Methods {
			if m == "" || !isToken(m) || strings.ToUpper(m) != m {
				p.add(fmt.Sprintf("%s.methods[%d]", path, j), "%q %w", m, errMethods)
			}
		}
		if key := matchKey(r); r.Path != "" {
			if j, dup := matches[key]; dup {
				p.add(path, "same host, path and methods as routes[%d]; one of them could never match", j)
			} else {
				matches[key] = i
			}
		}

		if r.Upstream != "" {
			if _, ok := c.Upstreams[r.Upstream]; !ok {
				p.add(path+".upstream", "[upstreams.%s] is %w", r.Upstream, ErrUndefined)
			}
		}
		if r.Function != "" {
			if _, ok := c.Functions[r.Function]; !ok {
				p.add(path+".function", "[functions.%s] is %w", r.Function, ErrUndefined)
			}
		}
		if r.Enqueue != "" {
			validateEnqueue(p, path, r, c)
		} else {
			validateStage(p, path, r)
		}
		if r.Weight < 0 || r.Weight > 100 {
			p.add(path+".weight", "must be between 0 and 100")
		}
		validateSticky(p, path+".sticky", r.Sticky)
		if r.Shadow != nil {
			validateShadow(p, path+".shadow", r.Shadow)
		}
		if r.Migration != nil {
			validateMigration(p, path+".migration", r)
		}
		validateRouteGateway(p, path, r, c)
	}
}

// matchKey identifies what a route matches, so that two routes that could
// never be told apart are refused.
func matchKey(r Route) string {
	m := slices.Clone(r.Methods)
	slices.Sort(m)
	m = slices.Compact(m)
	return strings.ToLower(r.Host) + " " + r.Path + " " + strings.Join(m, ",")
}

func validateStage(p *problems, path string, r Route) {
	needUpstream, needFunction := true, true
	switch r.Stage {
	case StageLegacy:
		needFunction = false
	case StageShadow, StageCanary, StageIsolate:
	case StageRetired:
		needUpstream = false
	case "":
		p.add(path+".stage", "required: one of %s", strings.Join(stages, ", "))
		return
	default:
		p.add(path+".stage", "%q is not one of %s", r.Stage, strings.Join(stages, ", "))
		return
	}
	if needUpstream && r.Upstream == "" {
		p.add(path+".upstream", "required at the %s stage", r.Stage)
	}
	if needFunction && r.Function == "" {
		p.add(path+".function", "required at the %s stage", r.Stage)
	}
}

func validateSticky(p *problems, path, s string) {
	if s == "ip" {
		return
	}
	kind, name, ok := strings.Cut(s, ":")
	if ok && (kind == "header" || kind == "cookie") && name != "" && isToken(name) {
		return
	}
	p.add(path, `%q must be "ip", "header:NAME" or "cookie:NAME"`, s)
}

func validateShadow(p *problems, path string, s *Shadow) {
	for i, h := range s.CompareHeaders {
		if h == "" || !isToken(h) {
			p.add(fmt.Sprintf("%s.compare_headers[%d]", path, i), "%q is not a header name", h)
		}
	}
	for i, j := range s.Ignore {
		if err := checkJSONPath(j); err != nil {
			p.add(fmt.Sprintf("%s.ignore[%d]", path, i), "%w", err)
		}
	}
	p.positive(path+".max_concurrent", int64(s.MaxConcurrent))
	p.atMost(path+".max_concurrent", s.MaxConcurrent, maxShadowInFlight)
	p.positive(path+".max_body", int64(s.MaxBody))
	p.sizeAtMost(path+".max_body", s.MaxBody, maxShadowBody)
	p.nonNegative(path+".sample_size", s.SampleSize)
	p.atMost(path+".sample_size", s.SampleSize, maxShadowSamples)
	if !(s.NoiseSample >= 0 && s.NoiseSample <= 1) {
		p.add(path+".noise_sample", "must be between 0 and 1")
	}
}

func validateMigration(p *problems, path string, r Route) {
	m := r.Migration
	if r.Function == "" || r.Upstream == "" {
		p.add(path, "needs both function and upstream on the route")
	}
	if r.Stage == StageRetired {
		p.add(path, "not allowed on a retired route")
	}
	if m.Start != StageShadow && m.Start != StageCanary {
		p.add(path+".start", `must be "shadow" or "canary", not %q`, m.Start)
	}
	if len(m.Steps) == 0 {
		p.add(path+".steps", "required: canary weights such as [5, 25, 50, 100]")
	}
	for i, s := range m.Steps {
		sp := fmt.Sprintf("%s.steps[%d]", path, i)
		switch {
		case s < 1 || s > 100:
			p.add(sp, "must be between 1 and 100")
		case i > 0 && s <= m.Steps[i-1]:
			p.add(sp, "must be greater than the step before it (%d)", m.Steps[i-1])
		}
	}
	p.positive(path+".interval", int64(m.Interval))
	p.nonNegative(path+".min_requests", m.MinRequests)
	p.atMost(path+".min_requests", m.MinRequests, maxMinRequests)
	rate := func(key string, v float64) {
		if !(v >= 0 && v <= 1) {
			p.add(path+"."+key, "must be between 0 and 1")
		}
	}
	rate("max_error_rate", m.MaxErrorRate)
	if !(m.MaxLatencyRatio > 0) || math.IsInf(m.MaxLatencyRatio, 1) {
		p.add(path+".max_latency_ratio", "must be a finite number > 0")
	}
	rate("max_mismatch_rate", m.MaxMismatchRate)
	if m.OnFailure != "rollback" && m.OnFailure != "pause" {
		p.add(path+".on_failure", `must be "rollback" or "pause", not %q`, m.OnFailure)
	}
}

// isToken reports whether s is an RFC 9110 token (methods, header and
// cookie names).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHost accepts a DNS name (letters, digits, '-', '.') or an IP
// literal, bracketed or not for IPv6.
func validHost(h string) bool {
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		ip, err := netip.ParseAddr(h[1 : len(h)-1])
		return err == nil && ip.Is6() && ip.Zone() == ""
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return !strings.Contains(h, "%")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		if strings.Trim(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			return false
		}
	}
	return true
}

// ParseTrustedProxy parses a trusted_proxies entry: a CIDR prefix
// ("10.0.0.0/8", "2001:db8::/32") or one address (its /32 or /128).
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parse %q: want a CIDR prefix or an address", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("parse %q: want a CIDR prefix or an address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
