package router

import (
	"bytes"
	"context"
	"net"
	"strconv"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/proxy"
	"github.com/valyala/fasthttp"
)

// exchange is the per-request scratch space of the pipeline: the normalised path, the
// isolate's view of the request and its answer, and the fasthttp objects the guest's
// "next" sends upstream. Exchanges are pooled on the Server; nothing in one outlives
// the request it was acquired for.
type exchange struct {
	path   []byte
	req    isolate.Request
	resp   isolate.Response
	upReq  fasthttp.Request
	upResp fasthttp.Response

	// Set per request for next.
	fctx    *fasthttp.RequestCtx
	up      *proxy.Upstream
	upName  string
	maxBody int64
	next    isolate.Next // x.sendNext, bound once so the hot path does not allocate it
	idem    idemDispatch // the dispatch an idempotent request runs (see serve)
	rateKey []byte       // the client's rate limiter key (see gate); allocated on first use, then reused
	sent    bool         // sendNext used upReq and upResp, which release must reset

	tr reqTrace // the request's trace, when the World has Tracing
}

func (s *Server) acquireExchange() *exchange {
	if x, ok := s.xpool.Get().(*exchange); ok {
		return x
	}
	x := &exchange{}
	x.next = x.sendNext
	x.tr.bind(context.Background())
	return x
}

func (s *Server) releaseExchange(x *exchange) {
	x.fctx, x.up = nil, nil
	x.tr.reset()
	if cap(x.rateKey) > 1<<10 {
		x.rateKey = nil // a long subject's key is not kept in the pool
	}
	// Do not let one huge request pin its buffers in the pool forever.
	if cap(x.req.Body) > 1<<20 || cap(x.resp.Body) > 1<<20 {
		return
	}
	// Most isolate routes answer without next; their upstream pair is still clean.
	if x.sent {
		x.upReq.Reset()
		x.upResp.Reset()
		x.sent = false
	}
	s.xpool.Put(x)
}

// requestFromCtx fills dst with ctx's request: method, the raw request target,
// protocol, headers in the order fasthttp keeps them, body and client address.
func requestFromCtx(dst *isolate.Request, ctx *fasthttp.RequestCtx) {
	dst.Reset()
	h := &ctx.Request.Header
	dst.Method = append(dst.Method, h.Method()...)
	dst.URI = append(dst.URI, h.RequestURI()...)
	dst.Protocol = append(dst.Protocol, h.Protocol()...)
	for k, v := range h.All() {
		dst.Header.Add(k, v)
	}
	dst.Body = append(dst.Body, ctx.Request.Body()...)
	dst.RemoteAddr = appendRemoteAddr(dst.RemoteAddr, ctx)
}

// appendRemoteAddr appends the client's "ip:port" without allocating for TCP clients,
// exactly as netip.AddrPort.AppendTo writes the address's AddrPort.
func appendRemoteAddr(dst []byte, ctx *fasthttp.RequestCtx) []byte {
	addr := ctx.RemoteAddr()
	if a, ok := addr.(*net.TCPAddr); ok {
		return appendTCPAddr(dst, a)
	}
	return append(dst, addr.String()...)
}

// v4InV6Prefix starts an IPv4 address in 16-byte form (RFC 4291 2.5.5.2).
var v4InV6Prefix = [12]byte{10: 0xff, 11: 0xff}

// appendTCPAddr appends a.AddrPort().AppendTo's text. netip's formatting cost about
// 75 ns a request, most of the router's own share of an isolate call next to the
// guest, so the IPv4 forms a listener hands out ("a.b.c.d:port" from a tcp4 socket,
// "[::ffff:a.b.c.d]:port" from a dual-stack one) are written here directly.
func appendTCPAddr(dst []byte, a *net.TCPAddr) []byte {
	if a == nil || a.Zone != "" {
		return a.AddrPort().AppendTo(dst)
	}
	var ip4 []byte
	switch {
	case len(a.IP) == 4:
		ip4 = a.IP
	case len(a.IP) == 16 && [12]byte(a.IP[:12]) == v4InV6Prefix:
		ip4 = a.IP[12:]
		dst = append(dst, "[::ffff:"...)
	default:
		return a.AddrPort().AppendTo(dst)
	}
	for i, b := range ip4 {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = appendUint8(dst, b)
	}
	if len(a.IP) == 16 {
		dst = append(dst, ']')
	}
	dst = append(dst, ':')
	// AddrPort truncates the port to 16 bits; so must this.
	return strconv.AppendUint(dst, uint64(uint16(a.Port)), 10)
}

// appendUint8 appends b in decimal without leading zeros.
func appendUint8(dst []byte, b byte) []byte {
	switch {
	case b >= 100:
		return append(dst, '0'+b/100, '0'+b/10%10, '0'+b%10)
	case b >= 10:
		return append(dst, '0'+b/10, '0'+b%10)
	}
	return append(dst, '0'+b)
}

// framing lists the fields that describe how a message is framed on the wire. The
// pipeline sets them itself from the body it sends, so copies drop them.
var framing = [][]byte{[]byte("Content-Length"), []byte("Transfer-Encoding"), []byte("Connection"),
	[]byte("Keep-Alive")}

func isFraming(name []byte) bool {
	// Most names are none of these; their length alone says so, without a
	// case-insensitive compare per framing name.
	switch len(name) {
	case len("Connection"), len("Content-Length"), len("Transfer-Encoding"):
	default:
		return false
	}
	for _, f := range framing {
		if bytes.EqualFold(name, f) {
			return true
		}
	}
	return false
}

// sendNext is the isolate.Next of the pipeline: it sends the request the guest
// continued (possibly modified) to the route's upstream and hands back the answer,
// which the guest's handle_response then sees.
func (x *exchange) sendNext(_ context.Context, req *isolate.Request, resp *isolate.Response) error {
	if x.up == nil {
		return isolate.ErrNoNext
	}
	x.sent = true
	u := &x.upReq
	u.Reset()
	u.Header.DisableNormalizing()
	u.Header.SetNoDefaultContentType(true)
	u.Header.SetMethodBytes(req.Method)
	u.SetRequestURIBytes(req.URI)
	for i := range req.Header.Len() {
		k, v := req.Header.At(i)
		if isFraming(k) {
			continue
		}
		u.Header.AddBytesKV(k, v)
	}
	// req outlives the call to Do, so the body need not be copied.
	u.SetBodyRaw(req.Body)
	if err := x.tr.callUpstream(x.up, x.upName, x.fctx, u, &x.upResp, x.maxBody); err != nil {
		return err
	}
	responseFromFast(resp, &x.upResp)
	return nil
}

// responseFromFast merges a buffered fasthttp response, the answer to a guest's
// "next", into the isolate.Response the guest may already have written to in
// handle_request, as the http-wasm middleware model has it (the next handler
// writes to the same response): the upstream's status replaces the guest's,
// the upstream's header fields are added after the guest's, and its body is
// appended to what the guest wrote. docs/abi.md states the rule.
func responseFromFast(dst *isolate.Response, src *fasthttp.Response) {
	dst.Status = src.StatusCode()
	for k, v := range src.Header.All() {
		if isFraming(k) {
			continue
		}
		dst.Header.Add(k, v)
	}
	dst.Body = append(dst.Body, src.Body()...)
}

// writeResponse writes an isolate.Response as ctx's answer. Framing fields the guest
// set are dropped; fasthttp frames the body itself.
func writeResponse(ctx *fasthttp.RequestCtx, src *isolate.Response) {
	r := &ctx.Response
	r.Reset()
	r.Header.DisableNormalizing()
	r.Header.SetNoDefaultContentType(true)
	r.SetStatusCode(src.Status)
	for i := range src.Header.Len() {
		k, v := src.Header.At(i)
		if isFraming(k) {
			continue
		}
		r.Header.AddBytesKV(k, v)
	}
	r.SetBody(src.Body)
}
