package router

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/edged/edged/internal/fieldname"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/shadow"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"
)

// mirror is one shadow comparison in flight: a copy of the request for the isolate,
// the legacy answer the client got, and the isolate's answer; for a noise baseline
// also the second request to legacy and its answer. Pooled on the Server.
type mirror struct {
	req    isolate.Request
	resp   isolate.Response
	legacy fasthttp.Response
	head   bool
	tls    bool
	next   isolate.Next

	tr       reqTrace // the mirror's trace: the request's, under a span of its own
	route    string   // for the mirror's spans, when traced
	function string
	upstream string

	probe   fasthttp.Request  // legacy's second copy of the request (noise baseline)
	legacy2 fasthttp.Response // legacy's answer to probe
	xff     []byte            // scratch for probe's X-Forwarded-For
	keys    []string          // scratch for the noise one baseline finds

	rec mirrorRecording // when rec.w is set, the mirror is recorded (record.go)
}

func (s *Server) acquireMirror() *mirror {
	if m, ok := s.shpool.Get().(*mirror); ok {
		return m
	}
	m := &mirror{}
	m.next = m.sendNext
	m.tr.bind(s.bgCtx)
	m.rec.bind()
	return m
}

func (s *Server) releaseMirror(m *mirror) {
	m.legacy.Reset()
	m.legacy2.Reset()
	m.probe.Reset()
	m.tr.reset()
	m.rec.reset()
	if cap(m.req.Body) > 1<<20 || cap(m.resp.Body) > 1<<20 {
		return
	}
	s.shpool.Put(m)
}

// sendNext answers a shadow guest's "next" with the legacy response the client got,
// instead of calling the upstream a second time: a middleware guest is compared on
// what it does to the real answer, and legacy sees each request once.
func (m *mirror) sendNext(_ context.Context, _ *isolate.Request, resp *isolate.Response) error {
	responseFromFast(resp, &m.legacy)
	return nil
}

// serveShadow answers from legacy and, when the request may be mirrored and the
// route's mirror semaphore has room, compares the isolate's answer in the background.
// Nothing the mirror does delays or changes the client's answer.
func (s *Server) serveShadow(ctx *fasthttp.RequestCtx, ws *worldState, route *strangler.Route, rs *routeState,
	opts *routeOpts, x *exchange) {
	up := ws.w.Upstreams[route.Upstream]
	f := ws.w.Functions[route.Function]
	safe := safeMethod(ctx.Method())
	if up == nil || f == nil || !(safe || route.MirrorUnsafe) {
		s.serveLegacy(ctx, ws, route, rs, x)
		return
	}
	if rs.shadowInFlight.Add(1) > int64(opts.ShadowMaxConcurrent) {
		rs.shadowInFlight.Add(-1)
		rs.skip()
		s.serveLegacy(ctx, ws, route, rs, x)
		return
	}
	if !s.startBackground() {
		rs.shadowInFlight.Add(-1)
		rs.skip()
		s.serveLegacy(ctx, ws, route, rs, x)
		return
	}
	abandon := func(m *mirror) {
		s.releaseMirror(m)
		rs.shadowInFlight.Add(-1)
		rs.skip()
		s.bg.Done()
	}

	m := s.acquireMirror()
	requestFromCtx(&m.req, ctx)
	m.head = ctx.IsHead()
	m.tls = ctx.IsTLS()
	// A safe request whose answer is over the comparison cap is simply sent again,
	// streamed; an unsafe one must not be, so its answer is buffered up to the
	// upstream's own cap.
	limit := opts.ShadowMaxBody
	if !safe {
		limit = 0
	}
	start := time.Now()
	err := x.tr.callUpstream(up, route.Upstream, ctx, &ctx.Request, &m.legacy, limit)
	switch {
	case err != nil && safe && errors.Is(err, proxy.ErrUpstreamBodyTooLarge):
		abandon(m)
		ctx.Response.Reset()
		_ = x.tr.callUpstream(up, route.Upstream, ctx, nil, nil, 0)
		rs.targets[targetLegacy].record(ctx.Response.StatusCode(), time.Since(start))
		return
	case err != nil:
		abandon(m)
		writeError(ctx, err)
		rs.targets[targetLegacy].record(ctx.Response.StatusCode(), time.Since(start))
		return
	}
	m.legacy.CopyTo(&ctx.Response)
	d := time.Since(start)
	rs.targets[targetLegacy].record(ctx.Response.StatusCode(), d)
	if int64(len(m.legacy.Body())) > opts.ShadowMaxBody {
		abandon(m)
		return
	}
	if w := rs.rec.Load(); w != nil && w.Sample() {
		m.rec.w, m.rec.legacy, m.rec.start = w, d, start
	}
	if x.tr.on {
		m.tr.fork(&x.tr)
		m.route, m.function, m.upstream = route.Name, route.Function, route.Upstream
	}
	go s.runMirror(f, up, rs, opts, m)
}

func (rs *routeState) skip() {
	rs.skipped.Add(1)
	rs.shadowSkip.Inc()
}

// runMirror invokes the isolate on the mirrored request and records the comparison.
// For a sampled safe request (RouteOptions.NoiseSample) it also asks legacy a second
// time once the isolate has answered, and learns what differs between legacy's two
// answers as noise, which the comparison (this one included) then skips.
func (s *Server) runMirror(f *isolate.Function, up *proxy.Upstream, rs *routeState, opts *routeOpts, m *mirror) {
	defer s.bg.Done()
	if s.onMirror != nil {
		defer s.onMirror(rs.name)
	}
	defer rs.shadowInFlight.Add(-1)
	defer s.releaseMirror(m)

	// Never send an unsafe request twice, whatever MirrorUnsafe says. The probe is
	// built now because the isolate may rewrite m.req.
	probe := safeMethod(m.req.Method) && rs.noise.Sample(opts.NoiseSample)
	if probe {
		m.buildProbe(up.AppendsForwardedFor())
	}
	outcome := "skipped"
	if m.tr.record {
		defer func() { m.tr.finishMirror(m.route, m.function, outcome) }()
	}
	hctx := s.bgCtx
	if m.tr.on {
		hctx = m.tr.toGuest(&m.req)
	}
	if m.rec.w != nil {
		m.rec.begin(&m.req, m.tls)
		hctx = isolate.WithHostCalls(hctx, &m.rec.hc)
	}
	start := time.Now()
	rs.cost.Begin()
	err := f.Handle(hctx, &m.req, &m.resp, m.next)
	d := time.Since(start)
	rs.cost.EndMirror(f, d, err)
	it := &rs.targets[targetIsolate]
	if err != nil {
		if errors.Is(err, isolate.ErrClosed) || s.bgCtx.Err() != nil {
			// The World was swapped out or the server is stopping: nothing to learn.
			rs.skip()
			return
		}
		if isLimitBreach(err) {
			it.breaches.Add(1)
		}
		status := statusFor(err)
		m.resp.Reset()
		m.resp.Status = status
		it.record(status, d)
	} else {
		it.record(m.resp.Status, d)
	}
	if probe {
		s.learnNoise(up, rs, opts, m)
	}
	rs.compared.Add(1)
	field, lv, iv, same := compareResponses(&m.legacy, &m.resp, opts, m.head, &rs.noise)
	if m.rec.w != nil {
		s.finishRecording(m, rs, m.resp.Status, field, d)
	}
	if same {
		outcome = "match"
		rs.shadowMatch.Inc()
		return
	}
	outcome = "mismatch"
	rs.mismatched.Add(1)
	rs.shadowMis.Inc()
	path, _, _ := strings.Cut(string(m.req.URI), "?")
	mm := Mismatch{Time: s.now(), Method: string(m.req.Method), Path: path, Field: field, Legacy: lv, Isolate: iv}
	rs.addMismatch(mm)
	s.log.Debug("shadow mismatch", slog.String("route", rs.name), slog.String("path", path),
		slog.String("field", field), slog.String("trace_id", m.tr.traceIDString()))
}

// compareResponses compares legacy's answer and the isolate's: status, then the
// route's CompareHeaders, then the body (JSON structurally with the ignore paths when
// both bodies are JSON, bytes otherwise; not for HEAD). It returns the first
// difference that noise (nil for none) does not hold; a status difference is never
// noise.
func compareResponses(legacy *fasthttp.Response, iso *isolate.Response, opts *routeOpts, head bool,
	noise *shadow.Noise) (field, lv, iv string, same bool) {
	if ls := legacy.StatusCode(); ls != iso.Status {
		return "status", strconv.Itoa(ls), strconv.Itoa(iso.Status), false
	}
	for _, name := range opts.CompareHeaders {
		if a, b, eq := shadow.CompareHeader(name, legacyHeader(legacy, name), isolateHeader(iso, name), noise); !eq {
			return "header:" + name, a, b, false
		}
	}
	if head {
		return "", "", "", true
	}
	p, a, b, eq := shadow.CompareBodies(legacy.Body(), iso.Body, opts.ignore, noise)
	if eq {
		return "", "", "", true
	}
	return "body:" + p, a, b, false
}

// legacyHeader joins every value of name in h with ", ", matching names in any case.
func legacyHeader(r *fasthttp.Response, name string) string {
	var sb strings.Builder
	for k, v := range r.Header.All() {
		if fieldname.Equal(k, name) {
			if sb.Len() > 0 {
				sb.WriteString(", ")
			}
			sb.Write(v)
		}
	}
	return sb.String()
}

func isolateHeader(r *isolate.Response, name string) string {
	var sb strings.Builder
	for i := range r.Header.Len() {
		k, v := r.Header.At(i)
		if fieldname.Equal(k, name) {
			if sb.Len() > 0 {
				sb.WriteString(", ")
			}
			sb.Write(v)
		}
	}
	return sb.String()
}
