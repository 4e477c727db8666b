package proxy

import (
	"bufio"
	"bytes"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/fieldname"
)

// hopByHop lists the connection-specific fields of RFC 9110 section 7.6.1 plus the
// de-facto ones (Keep-Alive, Proxy-Connection) that net/http/httputil also strips.
// Names are compared case-insensitively: with header-name normalising disabled (trap 1 in
// docs/proxy.md) fasthttp's Peek/Del are case-sensitive, so "TE: trailers" would slip
// through a Del("Te").
var hopByHop = [...][]byte{
	[]byte("Connection"),
	[]byte("Proxy-Connection"),
	[]byte("Keep-Alive"),
	[]byte("Proxy-Authenticate"),
	[]byte("Proxy-Authorization"),
	[]byte("TE"),
	[]byte("Trailer"),
	[]byte("Transfer-Encoding"),
	[]byte("Upgrade"),
}

var (
	hdrConnection     = []byte("Connection")
	hdrContentLength  = []byte("Content-Length")
	hdrDate           = []byte("Date")
	hdrHost           = []byte("Host")
	hdrXForwardedFor  = []byte("X-Forwarded-For")
	hdrXForwardedHost = []byte("X-Forwarded-Host")
	hdrXForwardedProt = []byte("X-Forwarded-Proto")
	strHTTP           = []byte("http")
	strHTTPS          = []byte("https")
	strCommaSpace     = []byte(", ")
)

// maxConnNames is how many field names listed in Connection are kept without
// allocating; more go to a heap slice.
const maxConnNames = 8

// connNames collects the field names listed in every Connection header of a message.
// The slices alias the header's storage and are valid until that header changes.
// It must not point into itself, or it would escape to the heap on every request.
type connNames struct {
	fixed [maxConnNames][]byte
	n     int
	more  [][]byte
}

func (c *connNames) add(v []byte) {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		tok = bytes.TrimSpace(tok)
		switch {
		case len(tok) == 0:
		case c.n < maxConnNames:
			c.fixed[c.n] = tok
			c.n++
		default:
			c.more = append(c.more, tok)
		}
	}
}

// isHopByHop reports whether key must not cross the proxy.
func (c *connNames) isHopByHop(key []byte) bool {
	for _, h := range hopByHop {
		if fieldname.EqualBytes(key, h) {
			return true
		}
	}
	for _, n := range c.fixed[:c.n] {
		if fieldname.EqualBytes(key, n) {
			return true
		}
	}
	for _, n := range c.more {
		if fieldname.EqualBytes(key, n) {
			return true
		}
	}
	return false
}

// IsForwarded reports whether key is one of the X-Forwarded-* fields (For, Host,
// Proto) that Upstream sets itself, in any letter case.
func IsForwarded(key []byte) bool {
	return fieldname.EqualBytes(key, hdrXForwardedFor) || fieldname.EqualBytes(key, hdrXForwardedHost) ||
		fieldname.EqualBytes(key, hdrXForwardedProt)
}

// copyRequestHeader fills dst (a reset header) from src without hop-by-hop fields, without
// Content-Length (the outbound body re-derives framing) and, when xff is set, without the
// X-Forwarded-* fields the caller rewrites. Repeated fields keep their order: nothing is
// ever deleted from dst, since fasthttp's Del swaps with the last entry (trap 2).
// It returns the existing X-Forwarded-For values joined by ", ", appended to xffBuf.
func copyRequestHeader(dst, src *fasthttp.RequestHeader, xff bool, xffBuf []byte) []byte {
	var cn connNames
	for k, v := range src.All() {
		if fieldname.EqualBytes(k, hdrConnection) {
			cn.add(v)
		}
	}
	// The protocol stays HTTP/1.1 whatever the client spoke, so upstream connections are
	// kept alive for HTTP/1.0 clients too.
	dst.SetMethodBytes(src.Method())
	for k, v := range src.All() {
		switch {
		case cn.isHopByHop(k), fieldname.EqualBytes(k, hdrContentLength):
			continue
		case fieldname.EqualBytes(k, hdrHost):
			dst.SetHostBytes(v)
			continue
		case xff && IsForwarded(k):
			if fieldname.EqualBytes(k, hdrXForwardedFor) && len(v) > 0 {
				if len(xffBuf) > 0 {
					xffBuf = append(xffBuf, strCommaSpace...)
				}
				xffBuf = append(xffBuf, v...)
			}
			continue
		}
		dst.AddBytesKV(k, v)
	}
	// The client's "Connection: close" concerns the client's connection only (trap 4).
	dst.ResetConnectionClose()
	return xffBuf
}

// copyResponseHeader fills dst from src without hop-by-hop fields and without framing
// (Content-Length is set from the body by the caller), preserving order and case.
func copyResponseHeader(dst, src *fasthttp.ResponseHeader) {
	var cn connNames
	for k, v := range src.All() {
		if fieldname.EqualBytes(k, hdrConnection) {
			cn.add(v)
		}
	}
	dst.SetStatusCode(src.StatusCode())
	// An upstream that sends no Content-Type must not get fasthttp's default one.
	dst.SetNoDefaultContentType(true)
	for k, v := range src.All() {
		if cn.isHopByHop(k) || fieldname.EqualBytes(k, hdrContentLength) {
			continue
		}
		dst.AddBytesKV(k, v)
	}
	dst.ResetConnectionClose()
}

// headReaderSize bounds the response head copyResponseHead re-reads: twice the
// fasthttp client's default read buffer, which bounds what an upstream can send.
const headReaderSize = 8 << 10

// headReader holds what copyResponseHead needs to re-read a head, pooled per Upstream.
type headReader struct {
	buf []byte
	r   bytes.Reader
	br  *bufio.Reader
}

// copyResponseHead fills dst, as copyResponseHeader does, and also keeps src's Date
// (RFC 9110 6.6.1: a proxy forwards the origin's Date; caches compute ages from it)
// or, when src has none, adds the time it was received. fasthttp's Set and Add drop
// Date, which its server writes itself; a head it parses keeps the field, and a
// server with NoDefaultDate (Server sets it) writes that field instead of its own.
// So the head is written out without the hop-by-hop fields and read back into dst.
// A Response reset since the request began writes fasthttp's Date again, so every
// answer edged builds itself still has one. Should the head not read back (it always
// does: fasthttp parsed it once), dst is filled by copyResponseHeader, without Date.
func (u *Upstream) copyResponseHead(dst, src *fasthttp.ResponseHeader) {
	hr, _ := u.heads.Get().(*headReader)
	if hr == nil {
		hr = &headReader{}
		hr.br = bufio.NewReaderSize(&hr.r, headReaderSize)
	}
	defer u.heads.Put(hr)
	dst.DisableNormalizing()
	var ok bool
	hr.buf, ok = appendResponseHead(hr.buf[:0], src)
	if ok && len(hr.buf) <= headReaderSize {
		hr.r.Reset(hr.buf)
		hr.br.Reset(&hr.r)
		if dst.Read(hr.br) == nil {
			// Framing is set from the body by the caller, as after copyResponseHeader.
			dst.Del(fasthttp.HeaderContentLength)
			dst.SetNoDefaultContentType(true)
			dst.ResetConnectionClose()
			return
		}
	}
	copyResponseHeader(dst, src)
}

// appendResponseHead appends src's status line and fields as an HTTP/1.1 head, with
// what copyResponseHeader leaves out left out, one Date spelled "Date" (a second
// spelling would be written next to fasthttp's own when the response is reset), and
// the current time as Date when src has none. ok is false for a field with a CR or
// LF, which cannot be written back as it was.
func appendResponseHead(b []byte, src *fasthttp.ResponseHeader) ([]byte, bool) {
	var cn connNames
	for k, v := range src.All() {
		if fieldname.EqualBytes(k, hdrConnection) {
			cn.add(v)
		}
	}
	code := src.StatusCode()
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, fasthttp.StatusMessage(code)...)
	b = append(b, "\r\n"...)
	date := false
	for k, v := range src.All() {
		switch {
		case cn.isHopByHop(k) || fieldname.EqualBytes(k, hdrContentLength):
			continue
		case fieldname.EqualBytes(k, hdrDate):
			if date {
				continue
			}
			k, date = hdrDate, true
		}
		if bytes.IndexByte(k, '\n') >= 0 || bytes.IndexByte(v, '\n') >= 0 ||
			bytes.IndexByte(k, '\r') >= 0 || bytes.IndexByte(v, '\r') >= 0 {
			return b, false
		}
		b = append(b, k...)
		b = append(b, ": "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
	}
	if !date {
		b = append(b, "Date: "...)
		b = fasthttp.AppendHTTPDate(b, time.Now())
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...), true
}

// setForwarded sets X-Forwarded-For/-Proto/-Host on dst for a request that arrived on ctx.
// buf holds the X-Forwarded-For values the client sent (see copyRequestHeader); append
// mode keeps them, overwrite mode drops them. It returns buf for reuse.
func setForwarded(dst *fasthttp.RequestHeader, ctx *fasthttp.RequestCtx, appendMode bool, buf []byte) []byte {
	if !appendMode {
		buf = buf[:0]
	} else if len(buf) > 0 {
		buf = append(buf, strCommaSpace...)
	}
	buf = appendRemoteIP(buf, ctx.RemoteAddr())
	dst.SetBytesKV(hdrXForwardedFor, buf)
	if ctx.IsTLS() {
		dst.SetBytesKV(hdrXForwardedProt, strHTTPS)
	} else {
		dst.SetBytesKV(hdrXForwardedProt, strHTTP)
	}
	if h := ctx.Request.Header.Host(); len(h) > 0 {
		dst.SetBytesKV(hdrXForwardedHost, h)
	}
	return buf
}

func appendRemoteIP(dst []byte, a net.Addr) []byte {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap().AppendTo(dst)
	case nil:
		return dst
	default:
		s := a.String()
		if h, _, err := net.SplitHostPort(s); err == nil {
			s = h
		}
		return append(dst, s...)
	}
}
