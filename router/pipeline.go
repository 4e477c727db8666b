package router

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"time"

	"github.com/edged/edged/auth"
	"github.com/edged/edged/idempotency"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"
)

// errNoTarget means a route names an upstream or function the current World lacks (a
// config and table out of step); the client gets 502.
var errNoTarget = errors.New("route target not in the current world")

// Handler is the whole request pipeline as a fasthttp.RequestHandler: normalise and
// match, choose the target by the route's stage, answer, record. See README.md,
// "Architecture". It is safe for concurrent use. Bytes of ctx are read only while
// Handler runs; background mirrors work on copies.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	// One snapshot gives the routes and the World installed with them (Install).
	snap := s.table.Snapshot()
	ws := worldOf(snap)
	x := s.acquireExchange()
	defer s.releaseExchange(x)
	if t := ws.w.Tracing; t != nil {
		x.tr.begin(t, &ctx.Request.Header)
	}
	var start time.Duration
	if s.access != nil {
		start = s.mono()
	}
	route := s.serve(ctx, snap, ws, x)
	if !x.tr.record && s.access == nil {
		return
	}
	name, stage := "", ""
	if route != nil {
		name, stage = route.Name, route.Stage.String()
	}
	if x.tr.record {
		x.tr.finish(ctx, ws, x.path, name, stage)
	}
	if s.access != nil {
		s.logAccess(ctx, ws, x, name, stage, s.mono()-start)
	}
}

// maxLoggedPath bounds the request path an access log line repeats: the path
// comes from the client, and a log line must not be a way to fill the disk.
const maxLoggedPath = 1024

func truncateBytes(b []byte, n int) []byte { return b[:min(len(b), n)] }

// logAccess writes the access log line of a request.
func (s *Server) logAccess(ctx *fasthttp.RequestCtx, ws *worldState, x *exchange, route, stage string,
	d time.Duration) {
	attrs := []slog.Attr{
		slog.String("method", string(ctx.Method())),
		slog.String("path", string(truncateBytes(ctx.Request.URI().PathOriginal(), maxLoggedPath))),
		slog.Int("status", ctx.Response.StatusCode()),
		slog.Duration("duration", d),
		slog.String("route", route),
		slog.String("stage", stage),
		slog.String("client", ws.clientAddr(ctx).String()),
	}
	if x.tr.on {
		attrs = append(attrs, slog.String("trace_id", x.tr.tc.TraceID.String()))
	}
	s.access.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
}

// serve is Handler's work between the exchange's acquisition and release. It
// returns the matched route, nil when there was none.
func (s *Server) serve(ctx *fasthttp.RequestCtx, snap *strangler.Snapshot, ws *worldState, x *exchange) *strangler.Route {
	route, status := s.match(ctx, snap, x)
	if route == nil {
		writeStatus(ctx, status)
		return nil
	}
	x.tr.matched(route.Name)
	rs := s.state(route.Name)
	opts := ws.options(route.Name)
	var id auth.Result // the verified identity; zero on routes without auth
	if !s.gate(ctx, ws, opts, &id, x) {
		return route
	}
	if opts.MaxRequestBody > 0 && int64(len(ctx.Request.Body())) > opts.MaxRequestBody {
		writeStatus(ctx, fasthttp.StatusRequestEntityTooLarge)
		return route
	}
	if route.Enqueue != "" {
		// Not through Idempotency: the event id dedupes a retried request.
		s.serveEnqueue(ctx, ws, route, x, &id)
		return route
	}
	if opts.Idempotency != nil && idempotency.AppliesTo(ctx.Method()) {
		// The dispatch to run lives in the pooled exchange, so handing it over
		// allocates nothing; it is cleared so the pool does not pin the World.
		var buf [128]byte
		x.idem = idemDispatch{s: s, ws: ws, route: route, rs: rs, opts: opts, x: x}
		opts.Idempotency.Handle(ctx, appendIdemScope(buf[:0], ws, ctx, route.Name, &id), &x.idem)
		x.idem = idemDispatch{}
		return route
	}
	s.dispatch(ctx, ws, route, rs, opts, x)
	return route
}

// dispatch answers ctx from the target the route's stage chooses.
func (s *Server) dispatch(ctx *fasthttp.RequestCtx, ws *worldState, route *strangler.Route, rs *routeState,
	opts *routeOpts, x *exchange) {
	switch route.Stage {
	case strangler.StageLegacy:
		s.serveLegacy(ctx, ws, route, rs, x)
	case strangler.StageShadow:
		s.serveShadow(ctx, ws, route, rs, opts, x)
	case strangler.StageCanary:
		if canaryPicksIsolate(ctx, route, ws) {
			s.serveIsolate(ctx, ws, route, rs, opts, x)
		} else {
			s.serveLegacy(ctx, ws, route, rs, x)
		}
	case strangler.StageIsolate, strangler.StageRetired:
		s.serveIsolate(ctx, ws, route, rs, opts, x)
	default:
		writeStatus(ctx, fasthttp.StatusInternalServerError)
	}
}

// gate is the gateway boundary, run after the match and before anything reaches a
// guest or the upstream: it strips forged identity headers, authenticates (filling
// *id) and applies the rate limit. It reports false when it has answered ctx itself
// (401, 403, 429, or 500 for a route requiring auth in a World without an
// Authenticator). A route with neither auth nor a limit, in a World without an
// Authenticator, costs two nil checks and no allocation. The client's limiter key
// is built in the pooled exchange x: a key on the stack would escape through the
// RateLimiter interface and cost an allocation per request.
func (s *Server) gate(ctx *fasthttp.RequestCtx, ws *worldState, opts *routeOpts, id *auth.Result, x *exchange) bool {
	switch a := ws.w.Auth; {
	case opts.RequireAuth && a == nil:
		s.log.Error("route requires auth but no authenticator is configured")
		writeStatus(ctx, fasthttp.StatusInternalServerError)
		return false
	case opts.RequireAuth:
		*id = a.Authenticate(ctx, opts.Scopes)
		if !id.OK {
			writeStatus(ctx, id.Status)
			ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, id.WWWAuthenticate)
			if id.Status == fasthttp.StatusForbidden {
				s.countRejection(ctx, rejectForbidden)
			} else {
				s.countRejection(ctx, rejectUnauthenticated)
			}
			return false
		}
	case a != nil:
		auth.StripIdentityHeaders(&ctx.Request.Header, ws.authPrefix)
	}
	if opts.RateLimit == nil {
		return true
	}
	x.rateKey = rateKey(x.rateKey[:0], ws, ctx, opts.RateLimitBy, id)
	ok, wait := opts.RateLimit.AllowAt(x.rateKey, ctx.Time())
	if ok {
		return true
	}
	writeStatus(ctx, fasthttp.StatusTooManyRequests)
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.FormatInt(retryAfterSeconds(wait), 10))
	s.countRejection(ctx, rejectRateLimited)
	return false
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1, as Retry-After
// wants (RFC 9110 10.2.3): rounding down would invite a retry that is refused again.
func retryAfterSeconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}

// rateKey appends to dst the limiter key of the client: the API key name or subject
// when by asks for it and the request has one, else the client address (IPv4, or
// the /64 of IPv6, where single addresses are too cheap to count; see
// worldState.clientAddr for proxies). A one-byte tag keeps the kinds apart.
func rateKey(dst []byte, ws *worldState, ctx *fasthttp.RequestCtx, by string, id *auth.Result) []byte {
	switch {
	case by == RateByAPIKey && id.KeyName != "":
		return append(append(dst, 'k'), id.KeyName...)
	case (by == RateByAPIKey || by == RateBySubject) && id.Subject != "":
		return append(append(dst, 's'), id.Subject...)
	}
	return appendClientNet(append(dst, 'i'), ws.clientAddr(ctx))
}

// appendClientNet appends the bytes that identify a client network: the 4 bytes of
// an IPv4 address, the first 8 of an IPv6 one.
func appendClientNet(dst []byte, a netip.Addr) []byte {
	switch {
	case a.Is4():
		return appendAddrBytes(dst, a)
	case a.Is6():
		return appendAddrBytes(dst, a)[:len(dst)+8]
	}
	return dst
}

// appendIdemScope appends to dst the scope of idempotency keys: the route and the
// client, by its verified API key or subject, else its address, so clients never
// share keys.
func appendIdemScope(dst []byte, ws *worldState, ctx *fasthttp.RequestCtx, route string, id *auth.Result) []byte {
	b := append(append(dst, route...), 0)
	switch {
	case id.KeyName != "":
		return append(append(b, 'k'), id.KeyName...)
	case id.Subject != "":
		return append(append(b, 's'), id.Subject...)
	}
	return ws.clientAddr(ctx).AppendTo(append(b, 'i'))
}

// idemDispatch is the rest of the pipeline for idempotency.Handler.Handle: the
// route's dispatch with its arguments. It lives in the exchange, so passing it
// as an idempotency.Next costs no allocation (a closure would cost one per
// request).
type idemDispatch struct {
	s     *Server
	ws    *worldState
	route *strangler.Route
	rs    *routeState
	opts  *routeOpts
	x     *exchange
}

// ServeNext implements idempotency.Next.
func (d *idemDispatch) ServeNext(ctx *fasthttp.RequestCtx) {
	d.s.dispatch(ctx, d.ws, d.route, d.rs, d.opts, d.x)
}

// match brings the request target to origin-form (originForm), normalises the path
// into x.path and looks it up in snap. It returns the route, or
// nil and the status to answer (400 for userinfo, a target that is neither origin- nor
// http(s) absolute-form, a path NormalizePath refuses, or one whose literal reading,
// with %2F, '\\' and ';' taken as data, picks another route; 404 for no route). It
// neither locks nor allocates (a literal reading over 256 bytes allocates).
func (s *Server) match(ctx *fasthttp.RequestCtx, snap *strangler.Snapshot, x *exchange) (*strangler.Route, int) {
	status, scratch := originForm(&ctx.Request, x.path[:0])
	x.path = scratch
	if status != 0 {
		return nil, status
	}
	raw := ctx.Request.URI().PathOriginal()
	path, ok, ambiguous := normalizePath(x.path[:0], raw, false)
	x.path = path
	if !ok {
		return nil, fasthttp.StatusBadRequest
	}
	r, ok := snap.Lookup(ctx.Host(), path, ctx.Method())
	if ambiguous {
		// An upstream that does not decode %2F or strip ';' reads the path more
		// narrowly. When that reading picks another route, which route's rules
		// (auth, stage) apply depends on the upstream: refuse rather than guess.
		var buf [256]byte
		lit, _, _ := normalizePath(buf[:0], raw, true)
		if r2, ok2 := snap.Lookup(ctx.Host(), lit, ctx.Method()); ok2 != ok || r2 != r {
			return nil, fasthttp.StatusBadRequest
		}
	}
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

func (s *Server) serveLegacy(ctx *fasthttp.RequestCtx, ws *worldState, route *strangler.Route, rs *routeState,
	x *exchange) {
	up := ws.w.Upstreams[route.Upstream]
	start := s.mono()
	if up == nil {
		writeError(ctx, errNoTarget)
	} else {
		_ = x.tr.callUpstream(up, route.Upstream, ctx, nil, nil, 0)
	}
	d := s.mono() - start
	rs.targets[targetLegacy].record(ctx.Response.StatusCode(), d)
	if w := rs.rec.Load(); w != nil && up != nil {
		s.recordLegacy(ctx, route, rs, w, x, d)
	}
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
	var up *proxy.Upstream
	if route.Upstream != "" {
		up = ws.w.Upstreams[route.Upstream]
	}
	requestFromCtx(&x.req, ctx)
	x.fctx, x.up, x.upName, x.maxBody = ctx, up, route.Upstream, 0
	// Not ctx: a RequestCtx is done when the server shuts down, and draining must let
	// invocations finish. The function's own deadline bounds the call.
	hctx := context.Background()
	if x.tr.on {
		hctx = x.tr.toGuest(&x.req)
	}
	rs.cost.Begin()
	err := f.Handle(hctx, &x.req, &x.resp, x.next)
	rs.cost.End(f, s.mono()-start, err)
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
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("isolate fallback", "route", route.Name, "err", err, "trace_id", x.tr.traceIDString())
		}
		ctx.Response.Reset()
		_ = x.tr.callUpstream(up, route.Upstream, ctx, nil, nil, 0)
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
	case errors.Is(err, proxy.ErrUpstreamTimeout), errors.Is(err, proxy.ErrUpstreamUnavailable),
		errors.Is(err, proxy.ErrUpstreamBodyTooLarge), errors.Is(err, proxy.ErrPoolTimeout):
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
	case errors.Is(err, proxy.ErrUpstreamTimeout):
		return fasthttp.StatusGatewayTimeout
	case errors.Is(err, proxy.ErrPoolTimeout):
		return fasthttp.StatusServiceUnavailable
	case errors.Is(err, proxy.ErrUpstreamUnavailable), errors.Is(err, proxy.ErrUpstreamBodyTooLarge),
		errors.Is(err, errNoTarget):
		return fasthttp.StatusBadGateway
	}
	return isolate.StatusOf(err)
}

// writeError answers ctx with statusFor(err) and a short plain-text body. A
// function that was busy for its whole max_wait (ErrPoolExhausted), or an
// upstream whose connections all stayed busy for max_conn_wait
// (proxy.ErrPoolTimeout), is not broken: its 503 carries Retry-After so that
// clients back off.
func writeError(ctx *fasthttp.RequestCtx, err error) {
	writeStatus(ctx, statusFor(err))
	if errors.Is(err, isolate.ErrPoolExhausted) || errors.Is(err, proxy.ErrPoolTimeout) {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
	}
}

func writeStatus(ctx *fasthttp.RequestCtx, code int) {
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(code)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString(fasthttp.StatusMessage(code))
	ctx.Response.AppendBodyString("\n")
}
