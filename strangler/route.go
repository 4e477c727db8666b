package strangler

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Route maps a host and path prefix (and optionally a set of methods) to a legacy upstream and an isolate function,
// and records where the mapping stands in its migration. Route is a plain value; a *Route returned by
// Snapshot.Lookup points into an immutable snapshot and must not be modified.
type Route struct {
	// Name identifies the route; unique within a Table. Letters, digits, '-', '_' and '.', at most 128 bytes.
	Name string
	// Host restricts the route to one host. "" matches any host; otherwise an exact host name (ASCII, compared
	// case-insensitively, no port, a trailing dot ignored) or "*.example.com", which matches one or more labels
	// in front of "example.com" but not "example.com" itself.
	Host string
	// Path is a path prefix that starts with "/". It matches on a segment boundary: "/api" matches "/api",
	// "/api/" and "/api/x" but not "/apix"; a prefix ending in "/" matches only below it ("/api/" does not
	// match "/api"); "/" matches every path. ASCII letter case does not matter ("/api" matches "/API/x"),
	// so that no spelling of a path skips its route for an upstream that ignores case. It may not contain
	// "//", "." or ".." segments, '?', '#', ';', '\\', %2F, %5C, escapes of unreserved characters, spaces or
	// control characters: the router matches a normalised request path in which none of those can appear.
	Path string
	// Methods restricts the route to these methods (upper-case tokens such as "GET", compared exactly). Empty
	// means any method.
	Methods []string
	// Upstream names the legacy upstream. It may be "" only when Stage is StageRetired or the route has Enqueue.
	Upstream string
	// Function names the isolate function. It may be "" only when Stage is StageLegacy.
	Function string
	// Enqueue, when set, makes the route accept each request as an event published on this subject (answered 202
	// by the router) instead of serving it from a target. Such a route has no Upstream and no Function, stays at
	// StageLegacy and never migrates: the function that processes the events is a trigger's, not the route's.
	Enqueue string
	// Stage is the route's migration stage.
	Stage Stage
	// Weight is the canary percentage, 0..100. The router reads it in StageCanary only.
	Weight int
	// Sticky names the key that keeps a user on one side of a canary: "header:NAME", "cookie:NAME", "ip", or ""
	// (the same as "ip"). See ParseSticky.
	Sticky string
	// MirrorUnsafe makes a shadow route mirror non-safe methods (POST, ...) as well as safe ones.
	MirrorUnsafe bool
	// Step indexes the route's migration steps; it is owned by the migration controller. -1 means none.
	Step int
	// Paused stops the migration controller from moving the route; it does not change how requests are routed.
	Paused bool
}

// clone returns a deep copy of r, so the copy's Methods may be changed without touching r.
func (r *Route) clone() Route {
	c := *r
	c.Methods = slices.Clone(r.Methods)
	return c
}

// sameIdentity reports whether a and b agree on every field that Table.Update must not change.
func sameIdentity(a, b *Route) bool {
	return a.Name == b.Name && a.Host == b.Host && a.Path == b.Path && slices.Equal(a.Methods, b.Methods) &&
		a.Upstream == b.Upstream && a.Function == b.Function && a.Enqueue == b.Enqueue && a.Sticky == b.Sticky && a.MirrorUnsafe == b.MirrorUnsafe
}

// ErrInvalidRoute is matched (errors.Is) by every validation error from NewTable, Table.Replace and Table.Update.
var ErrInvalidRoute = errors.New("invalid route")

// RouteError is one problem with one route. NewTable and Table.Replace return all of them joined (errors.Join);
// use errors.As to get at the fields. RouteError matches ErrInvalidRoute.
type RouteError struct {
	Index int    // position in the slice given to NewTable or Replace; -1 from Update
	Name  string // the route's Name as given
	Field string // "name", "host", "path", "methods", "upstream", "function", "stage", "weight", "sticky", "step"
	Msg   string // what is wrong, e.g. `must start with "/"`
}

// Error formats the problem as `routes[3] (users): path: must start with "/"`.
func (e *RouteError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("route %q: %s: %s", e.Name, e.Field, e.Msg)
	}
	return fmt.Sprintf("routes[%d] (%s): %s: %s", e.Index, e.Name, e.Field, e.Msg)
}

// Is makes errors.Is(err, ErrInvalidRoute) true.
func (e *RouteError) Is(target error) bool { return target == ErrInvalidRoute }

// StickyKind says where a canary's sticky key comes from.
type StickyKind uint8

const (
	// StickyIP keys on the client address.
	StickyIP StickyKind = iota
	// StickyHeader keys on a request header.
	StickyHeader
	// StickyCookie keys on a cookie.
	StickyCookie
)

// ParseSticky splits a Route.Sticky value into its kind and name: "header:X-User" gives (StickyHeader, "X-User"),
// "cookie:sid" gives (StickyCookie, "sid"), "ip" and "" give (StickyIP, ""). The name must be a non-empty HTTP
// token. Anything else is an error wrapping ErrInvalidRoute. It does not allocate, so the router may call it per
// request, but routes in a Table have already been validated with it.
func ParseSticky(s string) (StickyKind, string, error) {
	if s == "" || s == "ip" {
		return StickyIP, "", nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if ok && isToken(name) {
		switch kind {
		case "header":
			return StickyHeader, name, nil
		case "cookie":
			return StickyCookie, name, nil
		}
	}
	return 0, "", fmt.Errorf("parse sticky %q: want \"header:NAME\", \"cookie:NAME\" or \"ip\": %w", s, ErrInvalidRoute)
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

const (
	maxNameLen = 128
	maxHostLen = 253 // RFC 1035, without the trailing dot
)

// validateRoute appends every problem with r to errs. It checks r on its own; duplicate names and conflicting
// matches are checked across the set by validateSet.
func validateRoute(errs []error, i int, r *Route) []error {
	bad := func(field, format string, args ...any) {
		errs = append(errs, &RouteError{Index: i, Name: r.Name, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if msg := checkName(r.Name); msg != "" {
		bad("name", "%s", msg)
	}
	if _, _, msg := normRouteHost(r.Host); msg != "" {
		bad("host", "%s", msg)
	}
	if msg := checkPath(r.Path); msg != "" {
		bad("path", "%s", msg)
	}
	for j, m := range r.Methods {
		if !isMethod(m) {
			bad("methods", "[%d] %q: must be an upper-case token such as \"GET\"", j, m)
		} else if slices.Contains(r.Methods[:j], m) {
			bad("methods", "[%d] %q: listed twice", j, m)
		}
	}
	switch {
	case !r.Stage.Valid():
		bad("stage", "%v: must be one of legacy, shadow, canary, isolate, retired", r.Stage)
	case r.Enqueue != "":
		if msg := checkSubject(r.Enqueue); msg != "" {
			bad("enqueue", "%s", msg)
		}
		if r.Stage != StageLegacy {
			bad("stage", "%v: an enqueue route stays legacy (it never migrates)", r.Stage)
		}
		if r.Upstream != "" || r.Function != "" {
			bad("enqueue", "an enqueue route has no upstream and no function")
		}
	default:
		if r.Upstream == "" && r.Stage != StageRetired {
			bad("upstream", "required unless stage is retired (stage %v)", r.Stage)
		}
		if r.Function == "" && r.Stage != StageLegacy {
			bad("function", "required unless stage is legacy (stage %v)", r.Stage)
		}
	}
	if r.Weight < 0 || r.Weight > 100 {
		bad("weight", "%d: must be between 0 and 100", r.Weight)
	}
	if _, _, err := ParseSticky(r.Sticky); err != nil {
		bad("sticky", "%q: want \"header:NAME\", \"cookie:NAME\", \"ip\" or \"\"", r.Sticky)
	}
	if r.Step < -1 {
		bad("step", "%d: must be >= -1", r.Step)
	}
	return errs
}

// checkSubject checks an enqueue subject loosely: the events engine has the last word on subjects, this only
// keeps what a table holds printable and bounded.
func checkSubject(s string) string {
	if len(s) > maxNameLen*2 {
		return fmt.Sprintf("longer than %d bytes", maxNameLen*2)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return fmt.Sprintf("%q: must be printable ASCII without spaces", s)
		}
	}
	return ""
}

func checkName(name string) string {
	if name == "" {
		return "required"
	}
	if len(name) > maxNameLen {
		return fmt.Sprintf("longer than %d bytes", maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Sprintf("%q: only letters, digits, '-', '_' and '.' are allowed", name)
		}
	}
	return ""
}

func isMethod(m string) bool {
	if !isToken(m) {
		return false
	}
	for i := 0; i < len(m); i++ {
		if 'a' <= m[i] && m[i] <= 'z' {
			return false
		}
	}
	return true
}

// normRouteHost validates a Route.Host and returns its matching key: the lower-cased host without a trailing dot,
// and for a wildcard the suffix after "*.". msg is non-empty when host is invalid.
func normRouteHost(host string) (key string, wildcard bool, msg string) {
	if host == "" {
		return "", false, ""
	}
	h := strings.TrimSuffix(asciiLower(host), ".")
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		h, wildcard = rest, true
	}
	if h == "" {
		return "", false, fmt.Sprintf("%q: empty host name", host)
	}
	if len(h) > maxHostLen {
		return "", false, fmt.Sprintf("%q: longer than %d bytes", host, maxHostLen)
	}
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		return "", false, fmt.Sprintf("%q: must not contain a port", host)
	}
	if strings.HasPrefix(h, "[") {
		// An IPv6 literal, kept in brackets as it appears in a Host header.
		if wildcard || !strings.HasSuffix(h, "]") || strings.Trim(h[1:len(h)-1], "0123456789abcdef:.") != "" ||
			len(h) < 4 {
			return "", false, fmt.Sprintf("%q: invalid IPv6 literal (no port allowed)", host)
		}
		return h, false, ""
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return "", false, fmt.Sprintf("%q: empty label or label longer than 63 bytes", host)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", false, fmt.Sprintf("%q: only letters, digits, '-', '_' and '.' are allowed (wildcard only as \"*.\" prefix)", host)
			}
		}
	}
	return h, wildcard, ""
}

func checkPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return fmt.Sprintf("%q: must start with \"/\"", p)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f || c == '?' || c == '#' {
			return fmt.Sprintf("%q: contains a space, control character, '?' or '#'", p)
		}
		if c := p[i]; c == ';' || c == '\\' || c == '%' && !keptEscape(p[i:]) {
			return fmt.Sprintf("%q: contains ';', '\\\\', %%2F, %%5C or an escape the router decodes: "+
				"requests are matched with path parameters left out, those as '/' and such escapes decoded, "+
				"so it could never match", p)
		}
	}
	segs := strings.Split(p[1:], "/")
	for j, s := range segs {
		if s == "" && j != len(segs)-1 || s == "." || s == ".." {
			return fmt.Sprintf("%q: must not contain \"//\", \".\" or \"..\" segments", p)
		}
	}
	return ""
}

// keptEscape reports whether p starts with a percent escape the router's path
// normalisation keeps as it is: well-formed, not %00, not an encoded slash or
// backslash (which separate segments) and not an unreserved character (decoded).
func keptEscape(p string) bool {
	if len(p) < 3 {
		return false
	}
	v, err := strconv.ParseUint(p[1:3], 16, 8)
	if err != nil || v == 0 || v == '/' || v == '\\' {
		return false
	}
	c := byte(v)
	unreserved := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
	return !unreserved
}

// matchKey is what two routes must share to compete for the same requests at the same priority.
type matchKey struct{ host, path string }

// validateSet validates every route and the set as a whole: unique names and no two routes that would match the
// same request at the same priority (same host, same path, overlapping methods or both without methods). It
// returns nil or the problems joined with errors.Join.
func validateSet(routes []Route) error {
	var errs []error
	names := make(map[string]int, len(routes))
	keys := make(map[matchKey][]int, len(routes))
	for i := range routes {
		r := &routes[i]
		n := len(errs)
		errs = validateRoute(errs, i, r)
		if j, dup := names[r.Name]; dup && r.Name != "" {
			errs = append(errs, &RouteError{Index: i, Name: r.Name, Field: "name",
				Msg: fmt.Sprintf("duplicate of routes[%d]", j)})
			continue
		}
		names[r.Name] = i
		if len(errs) > n {
			continue // the match key of an invalid route means nothing
		}
		host, wild, _ := normRouteHost(r.Host)
		if wild {
			host = "*." + host
		}
		k := matchKey{host, foldPath(r.Path)}
		for _, j := range keys[k] {
			if m, ok := overlap(routes[j].Methods, r.Methods); ok {
				errs = append(errs, &RouteError{Index: i, Name: r.Name, Field: "path",
					Msg: fmt.Sprintf("same host, path and method %s as routes[%d] (%s)", m, j, routes[j].Name)})
				break
			}
		}
		keys[k] = append(keys[k], i)
	}
	return errors.Join(errs...)
}

// overlap reports whether two method lists can both match one request, and names a method they share.
func overlap(a, b []string) (string, bool) {
	if len(a) == 0 && len(b) == 0 {
		return "(any)", true
	}
	for _, m := range a {
		if slices.Contains(b, m) {
			return m, true
		}
	}
	return "", false
}

// asciiLower lower-cases ASCII letters only: strings.ToLower would also fold characters such as the Kelvin sign
// into ASCII, which request matching (ASCII-only, allocation-free) never does.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
