package router

import (
	"bytes"

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
	authority, rest, ok := splitAbsoluteTarget(t)
	if !ok || len(authority) == 0 || bytes.IndexByte(authority, '@') >= 0 {
		return fasthttp.StatusBadRequest, scratch
	}
	h.SetHostBytes(authority)
	scratch = appendOriginForm(scratch[:0], rest)
	req.SetRequestURIBytes(scratch)
	return 0, scratch
}

// splitAbsoluteTarget splits an absolute-form http or https target (scheme in any
// letter case) into its authority and the rest (path, query and fragment, possibly
// empty). ok is false for anything else.
func splitAbsoluteTarget(t []byte) (authority, rest []byte, ok bool) {
	var n int
	switch {
	case len(t) >= 7 && equalFoldString(t[:7], "http://"):
		n = 7
	case len(t) >= 8 && equalFoldString(t[:8], "https://"):
		n = 8
	default:
		return nil, nil, false
	}
	t = t[n:]
	end := bytes.IndexAny(t, "/?#")
	if end < 0 {
		end = len(t)
	}
	return t[:end], t[end:], true
}

// appendOriginForm appends the origin-form target of rest (what follows an
// absolute target's authority): rest itself when it starts with "/", else "/"
// and rest.
func appendOriginForm(dst, rest []byte) []byte {
	if len(rest) == 0 || rest[0] != '/' {
		dst = append(dst, '/')
	}
	return append(dst, rest...)
}
