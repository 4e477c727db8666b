// Package proxy is edged's legacy upstream: an HTTP/1.1 reverse proxy to one origin,
// with its own connection pool, and the header hygiene a proxy owes both sides.
//
// An Upstream is made with New from Options and answers a fasthttp request with Serve
// (streaming large bodies) or sends a prepared request with Do (buffered, for a guest's
// "next" and shadow mirrors). Either way header names keep their case and repeated
// fields their order, hop-by-hop fields are stripped both ways, X-Forwarded-* are set,
// the request target goes out byte for byte (an absolute-form one as its origin-form,
// see AppendOriginForm) and the origin's Date is kept. Failures map to 502, 503 and
// 504 and wrap ErrUpstreamUnavailable, ErrPoolTimeout and ErrUpstreamTimeout.
//
// The package knows nothing of routes, guests or traces beyond the traceparent a
// caller set on the request: the router decides what goes where, and wraps each call
// in its span. docs/proxy.md lists the traps a fasthttp proxy must avoid; the
// comments here refer to them by number.
package proxy
