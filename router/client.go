package router

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/fieldname"
)

// maxForwardedEntries bounds the X-Forwarded-For entries walked for one request:
// a chain of proxies is short, and a client must not buy work with a long list.
const maxForwardedEntries = 32

// peerAddr returns the address of the connection's other end, IPv4 unmapped.
func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	a, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return a.Unmap()
}

// clientAddr returns the address of the client that sent ctx's request: the TCP
// peer, or, when the peer is one of World.TrustedProxies, the nearest address in
// X-Forwarded-For that is not (each proxy appends the address it heard from, so
// the walk goes from the right and stops at the first address no trusted proxy
// vouches for). An entry that does not parse, too many entries, or too many
// X-Forwarded-For fields stop the walk at the last trusted address: a client
// behind a sloppy proxy is then limited with that proxy, never by a name it chose.
func (ws *worldState) clientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	addr := peerAddr(ctx)
	if len(ws.trusted) == 0 || !ws.isTrusted(addr) {
		return addr
	}
	var fields [8][]byte
	n := 0
	for k, v := range ctx.Request.Header.All() {
		if fieldname.Equal(k, "x-forwarded-for") {
			if n == len(fields) {
				return addr
			}
			fields[n] = v
			n++
		}
	}
	seen := 0
	for i := n - 1; i >= 0; i-- {
		v := fields[i]
		for len(v) > 0 {
			var e []byte
			if c := bytes.LastIndexByte(v, ','); c >= 0 {
				e, v = v[c+1:], v[:c]
			} else {
				e, v = v, nil
			}
			e = trimOWS(e)
			if len(e) == 0 {
				continue
			}
			if seen++; seen > maxForwardedEntries {
				return addr
			}
			a, ok := parseForwardedAddr(e)
			if !ok {
				return addr
			}
			addr = a
			if !ws.isTrusted(a) {
				return a
			}
		}
	}
	return addr
}

// isTrusted reports whether a is in one of the trusted proxy prefixes.
func (ws *worldState) isTrusted(a netip.Addr) bool {
	for _, p := range ws.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseForwardedAddr parses one X-Forwarded-For entry: an address, or an
// address with a port ("192.0.2.1:443", "[2001:db8::1]:443"), as some proxies
// write them.
func parseForwardedAddr(e []byte) (netip.Addr, bool) {
	if len(e) > len("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535") {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(string(e)); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(string(e)); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// appendAddrBytes appends a's bytes: 4 for IPv4, 16 for IPv6.
func appendAddrBytes(dst []byte, a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return append(dst, b[:]...)
	}
	b := a.As16()
	return append(dst, b[:]...)
}

// trimOWS trims the optional white space (spaces and tabs) HTTP allows around
// a list element.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
