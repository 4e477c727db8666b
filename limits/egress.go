package limits

import (
	"fmt"
	"net/netip"
	"net/url"
	"time"
)

// Egress is the outbound-network policy of one function. The zero value
// denies everything.
type Egress struct {
	// Allow lists the destinations a guest may reach; the first matching
	// pattern wins. Empty (the default) denies all egress.
	Allow []Pattern

	// MaxSubrequests caps the outbound requests of one invocation; every
	// redirect followed counts as one more. Zero means the default: 8 when
	// Allow is non-empty, and 0 when it is empty (nothing could be reached
	// anyway). Because an empty Allow already means "no subrequests", there
	// is no separate spelling for zero with a non-empty Allow; negative
	// values are invalid.
	MaxSubrequests int

	// SubrequestTimeout bounds one subrequest, from dial to the end of
	// reading its body, redirects included. Zero means the default, 5s.
	SubrequestTimeout time.Duration

	// MaxSubrequestBody caps the response body of each subrequest; reading
	// more returns ErrBodyTooLarge. Zero means the default, 1MiB.
	MaxSubrequestBody Size
}

// Defaults for Egress fields left at zero.
const (
	DefaultMaxSubrequests    = 8
	DefaultSubrequestTimeout = 5 * time.Second
	DefaultMaxSubrequestBody = 1 * MiB
)

// WithDefaults returns e with every zero field replaced by its default.
// Allow is shared, not copied.
func (e Egress) WithDefaults() Egress {
	if e.MaxSubrequests == 0 && len(e.Allow) > 0 {
		e.MaxSubrequests = DefaultMaxSubrequests
	}
	if e.SubrequestTimeout == 0 {
		e.SubrequestTimeout = DefaultSubrequestTimeout
	}
	if e.MaxSubrequestBody == 0 {
		e.MaxSubrequestBody = DefaultMaxSubrequestBody
	}
	return e
}

// Allowed returns the first pattern of e.Allow that matches u, or an error
// wrapping ErrEgressDenied that names u (with any password redacted). It
// checks the URL only; the addresses a name resolves to are checked by
// CheckAddr (Client does both).
func (e Egress) Allowed(u *url.URL) (Pattern, error) {
	if u == nil {
		return Pattern{}, fmt.Errorf("egress to a nil URL: %w", ErrEgressDenied)
	}
	for _, p := range e.Allow {
		if p.Match(u) {
			return p, nil
		}
	}
	return Pattern{}, fmt.Errorf("egress to %q: %w", u.Redacted(), ErrEgressDenied)
}

// CheckAddr decides whether a connection to ip is allowed for a URL that p
// allowed. Public unicast addresses are allowed. Loopback, private (RFC 1918,
// fc00::/7), link-local (169.254.0.0/16 including cloud metadata at
// 169.254.169.254, fe80::/10), unspecified, multicast, broadcast, CGNAT
// (100.64.0.0/10), "this network" (0.0.0.0/8), reserved (240.0.0.0/4),
// IETF (192.0.0.0/24), benchmarking (198.18.0.0/15) and deprecated
// site-local (fec0::/10) addresses are refused, as are IPv6 forms that embed
// an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4)
// when the embedded address is refused. The one exception: p names exactly
// that IP as a literal (e.g. "http://127.0.0.1:9000"); a name or wildcard
// pattern never unlocks a refused address. The error wraps
// ErrPrivateAddress, which is also ErrEgressDenied.
func CheckAddr(p Pattern, ip netip.Addr) error {
	ip = ip.WithZone("")
	if p.addr.IsValid() && p.addr == ip.Unmap() {
		return nil
	}
	if refusedAddr(ip) {
		return fmt.Errorf("egress to %s: %w", ip, ErrPrivateAddress)
	}
	return nil
}

// refusedAddr reports whether ip is not a public unicast address.
func refusedAddr(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return refusedV4(ip.As4())
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsMulticast() ||
		ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() || ip.IsLinkLocalMulticast() {
		return true
	}
	a := ip.As16()
	switch {
	case a[0] == 0xfe && a[1]&0xc0 == 0xc0: // fec0::/10 site-local (deprecated)
		return true
	case isZero(a[:12]): // ::/96 IPv4-compatible (deprecated)
		return refusedV4([4]byte(a[12:]))
	case a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && isZero(a[4:12]): // 64:ff9b::/96 NAT64
		return refusedV4([4]byte(a[12:]))
	case a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0x00 && a[5] == 0x01: // 64:ff9b:1::/48 local NAT64
		return true
	case a[0] == 0x20 && a[1] == 0x02: // 2002::/16 6to4
		return refusedV4([4]byte(a[2:6]))
	}
	return false
}

func refusedV4(a [4]byte) bool {
	switch {
	case a[0] == 0: // 0.0.0.0/8 "this network"
	case a[0] == 10: // 10.0.0.0/8
	case a[0] == 100 && a[1]&0xc0 == 64: // 100.64.0.0/10 CGNAT
	case a[0] == 127: // loopback
	case a[0] == 169 && a[1] == 254: // link-local, cloud metadata
	case a[0] == 172 && a[1]&0xf0 == 16: // 172.16.0.0/12
	case a[0] == 192 && a[1] == 0 && a[2] == 0: // 192.0.0.0/24 IETF
	case a[0] == 192 && a[1] == 168: // 192.168.0.0/16
	case a[0] == 198 && a[1]&0xfe == 18: // 198.18.0.0/15 benchmarking
	case a[0] >= 224: // multicast, reserved, broadcast
	default:
		return false
	}
	return true
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
