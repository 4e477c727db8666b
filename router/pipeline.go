package router

import (
	"context"
	"errors"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"
)

// errNoTarget means a route names an upstream or function the current World lacks (a
// config and table out of step); the client gets 502.
var errNoTarget = errors.New("route target not in the current world")

// Handler is the whole request pipeline as a fasthttp.RequestHandler: normalise and
// match, choose the target by the route's stage, answer, record. See DESIGN.md, "The
// request path". It is safe for concurrent use. Bytes of ctx are read only while
// Handler runs; background mirrors work on copies.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	ws := s.world.Load()
	x := s.acquireExchange()
	defer s.releaseExchange(x)

	route, status := s.match(ctx, x)
	if route == nil {
		writeStatus(ctx, status)
		return
	}
	rs := s.state(route.Name)
	opts := ws.options(route.Name)
	if opts.MaxRequestBody > 0 && int64(len(ctx.Request.Body())) > opts.MaxRequestBody {
		writeStatus(ctx, fasthttp.StatusRequestEntityTooLarge)
		return
	}
	switch route.Stage {
	case strangler.StageLegacy:
		s.serveLegacy(ctx, ws, route, rs)
	case strangler.StageShadow:
		s.serveShadow(ctx, ws, route, rs, opts)
	case strangler.StageCanary:
		if canaryPicksIsolate(ctx, route) {
			s.serveIsolate(ctx, ws, route, rs, opts, x)
		} else {
			s.serveLegacy(ctx, ws, route, rs)
		}
	case strangler.StageIsolate, strangler.StageRetired:
		s.serveIsolate(ctx, ws, route, rs, opts, x)
	default:
		writeStatus(ctx, fasthttp.StatusInternalServerError)
	}
}

// match normalises the request path into x.path and looks it up in the current table
// snapshot. It returns the route, or nil and the status to answer (400 for a path
// NormalizePath refuses, 404 for no route). It neither locks nor allocates.
func (s *Server) match(ctx *fasthttp.RequestCtx, x *exchange) (*strangler.Route, int) {
	path, ok := NormalizePath(x.path[:0], ctx.Request.URI().PathOriginal())
	x.path = path
	if !ok {
		return nil, fasthttp.StatusBadRequest
	}
	r, ok := s.table.Snapshot().Lookup(ctx.Host(), path, ctx.Method())
	if !ok {
		return nil, fasthttp.StatusNotFound
	}
	return r, 0
}

// mono reads the monotonic clock alone, as a duration since the Server was
// created. Latency needs no wall clock, and time.Now reads both: on the isolate
// path, where the rest of the router costs about a microsecond, the second clock
// read was measurable.
func (s *Server) mono() time.Duration { return time.Since(s.epoch) }

func (s *Server) serveLegacy(ctx *fasthttp.RequestCtx, ws *worldState, route *strangler.Route, rs *routeState) {
	up := ws.w.Upstreams[route.Upstream]
	start := s.mono()
	if up == nil {
		writeError(ctx, errNoTarget)
	} else {
		up.Serve(ctx)
	}
	rs.targets[targetLegacy].record(ctx.Response.StatusCode(), s.mono()-start)
}

// serveIsolate runs the route's function on the request. On an isolate failure it
// answers from legacy instead when fallbackAllowed says so.
func (s *Server) serveIsolate(ctx *fasthttp.RequestCtx, ws *worldState, route *strangler.Route, rs *routeState,
	opts *routeOpts, x *exchange) {
	start := s.mono()
	f := ws.w.Functions[route.Function]
	if f == nil {
		writeError(ctx, errNoTarget)
		rs.targets[targetIsolate].record(ctx.Response.StatusCode(), s.mono()-start)
		return
	}
	var up *Upstream
	if route.Upstream != "" {
		up = ws.w.Upstreams[route.Upstream]
	}
	requestFromCtx(&x.req, ctx)
	x.fctx, x.up, x.maxBody = ctx, up, 0
	// Not ctx: a RequestCtx is done when the server shuts down, and draining must let
	// invocations finish. The function's own deadline bounds the call.
	err := f.Handle(context.Background(), &x.req, &x.resp, x.next)
	it := &rs.targets[targetIsolate]
	if err == nil {
		writeResponse(ctx, &x.resp)
		it.record(x.resp.Status, s.mono()-start)
		return
	}
	if isLimitBreach(err) {
		it.breaches.Add(1)
	}
	if route.Stage != strangler.StageRetired && up != nil && opts.Fallback &&
		canFallBack(err) && idempotentMethod(ctx.Method()) {
		legacyStart := s.mono()
		it.record(statusFor(err), legacyStart-start)
		it.fallbacks.Add(1)
		rs.fallbackTotal.Inc()
		s.log.Debug("isolate fallback", "route", route.Name, "err", err)
		ctx.Response.Reset()
		up.Serve(ctx)
		rs.targets[targetLegacy].record(ctx.Response.StatusCode(), s.mono()-legacyStart)
		return
	}
	writeError(ctx, err)
	it.record(ctx.Response.StatusCode(), s.mono()-start)
}

// canFallBack reports whether err is an isolate failure legacy can stand in for. A
// request body over the function's cap is the client's fault (413), and an upstream
// error from the guest's next would only repeat.
func canFallBack(err error) bool {
	switch {
	case errors.Is(err, ErrUpstreamTimeout), errors.Is(err, ErrUpstreamUnavailable),
		errors.Is(err, ErrUpstreamBodyTooLarge), errors.Is(err, ErrPoolTimeout):
		return false
	case errors.Is(err, isolate.ErrBodyTooLarge):
		return statusFor(err) != fasthttp.StatusRequestEntityTooLarge
	}
	return errors.Is(err, isolate.ErrTrap) || errors.Is(err, isolate.ErrDeadline) ||
		errors.Is(err, isolate.ErrMemoryLimit) || errors.Is(err, isolate.ErrPoolExhausted)
}

// isLimitBreach reports whether err is the guest running into one of its limits.
func isLimitBreach(err error) bool {
	return errors.Is(err, isolate.ErrDeadline) || errors.Is(err, isolate.ErrMemoryLimit) ||
		errors.Is(err, isolate.ErrBodyTooLarge)
}

// idempotentMethod reports whether a request with method m may be sent twice (RFC 9110
// 9.2.2), which a fallback after a guest's "next" may do.
func idempotentMethod(m []byte) bool {
	switch string(m) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodOptions, fasthttp.MethodPut,
		fasthttp.MethodDelete:
		return true
	}
	return false
}

// safeMethod reports whether m is safe (RFC 9110 9.2.1): only those are mirrored by
// default.
func safeMethod(m []byte) bool {
	switch string(m) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodOptions:
		return true
	}
	return false
}

// statusFor is the one place the router maps an error to the status a client sees:
// upstream errors as the legacy proxy answers them (504 timeout, 503 pool wait, 502
// otherwise), isolate errors per isolate.StatusOf (504 deadline, 503 pool, 502 trap,
// memory or response body, 413 request body).
func statusFor(err error) int {
	switch {
	case err == nil:
		return fasthttp.StatusOK
	case errors.Is(err, ErrUpstreamTimeout):
		return fasthttp.StatusGatewayTimeout
	case errors.Is(err, ErrPoolTimeout):
		return fasthttp.StatusServiceUnavailable
	case errors.Is(err, ErrUpstreamUnavailable), errors.Is(err, ErrUpstreamBodyTooLarge),
		errors.Is(err, errNoTarget):
		return fasthttp.StatusBadGateway
	}
	return isolate.StatusOf(err)
}

// writeError answers ctx with statusFor(err) and a short plain-text body.
func writeError(ctx *fasthttp.RequestCtx, err error) { writeStatus(ctx, statusFor(err)) }

func writeStatus(ctx *fasthttp.RequestCtx, code int) {
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(code)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString(fasthttp.StatusMessage(code))
	ctx.Response.AppendBodyString("\n")
}
