package limits

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Pattern is one entry of an egress allow-list: a scheme, a host and a port,
// written "scheme://host[:port]". Build it with ParsePattern; the zero value
// matches nothing.
//
// The host is one of
//   - an exact DNS name ("api.example.com"), matched case-insensitively and
//     ignoring one trailing dot;
//   - a wildcard "*.example.com", matching any name that ends in
//     ".example.com" with at least one more label (so "a.example.com" and
//     "a.b.example.com", but not "example.com" itself);
//   - an IP literal ("127.0.0.1", "[::1]"). Only a pattern that names an IP
//     literally can unlock a private or loopback destination (see CheckAddr).
//
// A port of 0 means the scheme's default (80 for http, 443 for https); an
// explicit default port is normalised to 0, so "https://h:443" and
// "https://h" are the same Pattern. Patterns are comparable with ==.
type Pattern struct {
	scheme   string     // "http" or "https"
	host     string     // lower case, no trailing dot; for a wildcard the suffix after "*", e.g. ".example.com"; empty for IPs
	wildcard bool       // host is a suffix
	addr     netip.Addr // valid for IP-literal patterns (unmapped, no zone)
	port     uint16     // 0 = scheme default
}

var (
	errScheme   = errors.New("scheme must be http or https")
	errNoScheme = errors.New(`missing scheme (want "http://" or "https://")`)
	errHost     = errors.New("invalid host")
	errPort     = errors.New("port must be a number from 1 to 65535")
	errExtra    = errors.New("only scheme://host[:port] is allowed (no path, query, fragment or user info)")
	errWildcard = errors.New(`"*" is only allowed as the whole first label, as in "*.example.com"`)
)

// ParsePattern parses an allow-list entry such as "https://api.example.com",
// "https://*.example.com:8443", "http://127.0.0.1:8080" or "http://[::1]:80".
// The scheme (http or https) is required and case-insensitive; the host is
// lower-cased and loses one trailing dot; a single trailing "/" is accepted.
// Paths, queries, fragments, user info, empty hosts, "*" anywhere but as the
// first label, IPv6 zones, non-ASCII hosts and ports outside 1..65535 are
// errors.
func ParsePattern(s string) (Pattern, error) {
	p, err := parsePattern(s)
	if err != nil {
		return Pattern{}, fmt.Errorf("parse pattern %q: %w", s, err)
	}
	return p, nil
}

func parsePattern(s string) (Pattern, error) {
	var p Pattern
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return p, errNoScheme
	}
	switch strings.ToLower(scheme) {
	case "http":
		p.scheme = "http"
	case "https":
		p.scheme = "https"
	case "":
		return p, errNoScheme
	default:
		return p, errScheme
	}
	rest = strings.TrimSuffix(rest, "/")
	if strings.ContainsAny(rest, "/?#@\\") {
		return p, errExtra
	}
	var host, port string
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return p, errHost
		}
		host, port = rest[1:end], rest[end+1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return p, errHost
		}
		p.addr = a.Unmap()
		if port != "" {
			if port[0] != ':' {
				return p, errHost
			}
			port = port[1:]
			if port == "" {
				return p, errPort
			}
		}
	} else {
		host = rest
		if i := strings.LastIndexByte(rest, ':'); i >= 0 {
			host, port = rest[:i], rest[i+1:]
			if port == "" {
				return p, errPort
			}
		}
		if strings.IndexByte(host, ':') >= 0 {
			return p, errHost // an unbracketed IPv6 address or a stray colon
		}
		// Strip the trailing dot first so "127.0.0.1." is still an IP
		// literal rather than a name that could never match an IP URL.
		host = strings.TrimSuffix(host, ".")
		if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
			p.addr = a
		} else if err := p.parseName(host); err != nil {
			return p, err
		}
	}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return p, errPort
		}
		if uint16(n) != defaultPort(p.scheme) {
			p.port = uint16(n)
		}
	}
	return p, nil
}

// parseName validates a DNS name or wildcard and stores it in p.
func (p *Pattern) parseName(host string) error {
	if host == "" {
		return errHost
	}
	if strings.HasPrefix(host, "*.") {
		p.wildcard = true
		host = host[1:] // keep the leading dot: the suffix to match
		if len(host) == 1 {
			return errHost
		}
	} else if host == "*" {
		return errWildcard
	}
	name := host
	if p.wildcard {
		name = host[1:]
	}
	if len(name) > 253 {
		return errHost
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return errHost
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			case c == '*':
				return errWildcard
			default:
				return errHost
			}
		}
	}
	p.host = strings.ToLower(host)
	return nil
}

func defaultPort(scheme string) uint16 {
	if scheme == "https" {
		return 443
	}
	return 80
}

// Scheme returns "http" or "https" ("" for the zero Pattern).
func (p Pattern) Scheme() string { return p.scheme }

// Port returns the effective port: the explicit one, or the scheme's default.
func (p Pattern) Port() uint16 {
	if p.port != 0 {
		return p.port
	}
	if p.scheme == "" {
		return 0
	}
	return defaultPort(p.scheme)
}

// Addr returns the IP literal the pattern names, and false for name and
// wildcard patterns.
func (p Pattern) Addr() (netip.Addr, bool) { return p.addr, p.addr.IsValid() }

// IsZero reports whether p is the zero Pattern, which matches nothing.
func (p Pattern) IsZero() bool { return p == Pattern{} }

// String returns the canonical form of p, which ParsePattern parses back to
// p: lower-case scheme and host, no trailing dot, no default port
// ("https://*.example.com:8443", "http://[::1]:9000"). The zero Pattern
// prints as "".
func (p Pattern) String() string {
	if p.scheme == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString(p.scheme)
	b.WriteString("://")
	switch {
	case p.addr.Is6():
		b.WriteByte('[')
		b.WriteString(p.addr.String())
		b.WriteByte(']')
	case p.addr.IsValid():
		b.WriteString(p.addr.String())
	case p.wildcard:
		b.WriteByte('*')
		b.WriteString(p.host)
	default:
		b.WriteString(p.host)
	}
	if p.port != 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(p.port)))
	}
	return b.String()
}

// UnmarshalText implements encoding.TextUnmarshaler with ParsePattern.
func (p *Pattern) UnmarshalText(b []byte) error {
	v, err := ParsePattern(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalText implements encoding.TextMarshaler with String.
func (p Pattern) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Match reports whether u is covered by p: same scheme (case-insensitive),
// same effective port (u's explicit port or its scheme's default) and a
// matching host (case-insensitive, one trailing dot ignored; an IP-literal
// pattern matches the same address, IPv4-mapped IPv6 forms included). The
// path, query and user info of u are not considered. A nil u matches
// nothing. Match does not allocate.
func (p Pattern) Match(u *url.URL) bool {
	if u == nil || p.scheme == "" || !strings.EqualFold(u.Scheme, p.scheme) {
		return false
	}
	if port, ok := urlPort(u, p.scheme); !ok || port != p.Port() {
		return false
	}
	return p.matchHost(u.Hostname())
}

// matchHost matches a host as returned by url.URL.Hostname or
// net.SplitHostPort (no brackets).
func (p Pattern) matchHost(host string) bool {
	if p.addr.IsValid() {
		a, err := netip.ParseAddr(host)
		return err == nil && a.Zone() == "" && a.Unmap() == p.addr
	}
	host = strings.TrimSuffix(host, ".")
	if p.wildcard {
		return len(host) > len(p.host) && strings.EqualFold(host[len(host)-len(p.host):], p.host)
	}
	return strings.EqualFold(host, p.host)
}

// urlPort returns u's effective port for scheme (already known to match).
func urlPort(u *url.URL, scheme string) (uint16, bool) {
	ps := u.Port()
	if ps == "" {
		return defaultPort(scheme), true
	}
	n, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint16(n), true
}
