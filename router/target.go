package router

import (
	"bytes"

	"github.com/edged/edged/proxy"
	"github.com/valyala/fasthttp"
)

// originForm brings req's target to origin-form before anything routes on it, and
// reports the status to refuse the request with (400), or 0 to go on.
//
// An absolute-form target ("GET http://host/path HTTP/1.1", RFC 9112 3.2.2) becomes
// its path and query, and its authority replaces Host, as the RFC has an origin
// server do: routing, guests and the upstream then all see one host and one path.
// Only http and https targets are accepted. Userinfo in the target or in Host is
// refused: fasthttp's client would turn it into an upstream Authorization header the
// gateway never saw. scratch is reused for the rewritten target and returned.
// Origin-form requests cost a byte search in Host and no allocation.
func originForm(req *fasthttp.Request, scratch []byte) (int, []byte) {
	h := &req.Header
	if bytes.IndexByte(h.Host(), '@') >= 0 {
		return fasthttp.StatusBadRequest, scratch
	}
	t := h.RequestURI()
	if len(t) == 0 || t[0] == '/' || (len(t) == 1 && t[0] == '*') {
		return 0, scratch
	}
	scratch, authority, ok := proxy.AppendOriginForm(scratch[:0], t)
	if !ok || len(authority) == 0 || bytes.IndexByte(authority, '@') >= 0 {
		return fasthttp.StatusBadRequest, scratch
	}
	h.SetHostBytes(authority)
	req.SetRequestURIBytes(scratch)
	return 0, scratch
}
