package router

import (
	"net/netip"

	"github.com/edged/edged/internal/fieldname"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/shadow"
	"github.com/valyala/fasthttp"
)

// The noise baseline (after Twitter's Diffy): some shadow mirrors of safe requests are
// sent to legacy a second time, and whatever differs between legacy's two answers
// (timestamps, request ids, …) is learnt as noise (shadow.Noise). A difference between
// legacy and the isolate at a noisy position is not a mismatch. Status codes are never
// noise.

// DefaultNoiseSample is RouteOptions.NoiseSample's default: one safe mirror in ten is
// also sent to legacy a second time.
const DefaultNoiseSample = 0.1

// buildProbe fills m.probe, the second request to legacy, from m.req as the client
// sent it (so it must run before the isolate may change m.req), with X-Forwarded-*
// set the way proxy.Upstream.Do sets them for the first request.
func (m *mirror) buildProbe(xffAppend bool) {
	p := &m.probe
	p.Reset()
	p.Header.DisableNormalizing()
	p.Header.SetNoDefaultContentType(true)
	p.Header.SetMethodBytes(m.req.Method)
	p.Header.SetRequestURIBytes(m.req.URI)
	xff := m.xff[:0]
	var host []byte
	for i := range m.req.Header.Len() {
		k, v := m.req.Header.At(i)
		switch {
		case fieldname.Equal(k, fasthttp.HeaderHost):
			host = v
			p.Header.SetHostBytes(v)
		case proxy.IsForwarded(k):
			if xffAppend && fieldname.Equal(k, fasthttp.HeaderXForwardedFor) && len(v) > 0 {
				if len(xff) > 0 {
					xff = append(xff, ", "...)
				}
				xff = append(xff, v...)
			}
		default:
			p.Header.AddBytesKV(k, v)
		}
	}
	if ap, err := netip.ParseAddrPort(string(m.req.RemoteAddr)); err == nil {
		if len(xff) > 0 {
			xff = append(xff, ", "...)
		}
		xff = ap.Addr().Unmap().AppendTo(xff)
	}
	if len(xff) > 0 {
		p.Header.SetBytesV(fasthttp.HeaderXForwardedFor, xff)
	}
	if m.tls {
		p.Header.Set(fasthttp.HeaderXForwardedProto, "https")
	} else {
		p.Header.Set(fasthttp.HeaderXForwardedProto, "http")
	}
	if len(host) > 0 {
		p.Header.SetBytesV(fasthttp.HeaderXForwardedHost, host)
	}
	p.SetBody(m.req.Body)
	m.xff = xff
}

// learnNoise sends the probe to legacy and records in rs.noise what differs between
// legacy's two answers: the route's CompareHeaders, then JSON paths (or "body" for two
// non-JSON bodies). Two answers with different statuses teach nothing (legacy failed
// or changed state in between), and neither does a failed probe.
func (s *Server) learnNoise(up *proxy.Upstream, rs *routeState, opts *routeOpts, m *mirror) {
	if s.bgCtx.Err() != nil {
		return
	}
	if err := m.tr.callUpstream(up, m.upstream, nil, &m.probe, &m.legacy2, opts.ShadowMaxBody); err != nil {
		s.log.Debug("shadow noise probe", "route", rs.name, "err", err)
		return
	}
	if m.legacy.StatusCode() != m.legacy2.StatusCode() {
		return
	}
	keys := m.keys[:0]
	for _, name := range opts.CompareHeaders {
		if legacyHeader(&m.legacy, name) != legacyHeader(&m.legacy2, name) {
			keys = shadow.AppendHeaderNoise(keys, name)
		}
	}
	if !m.head {
		keys = shadow.AppendBodyNoise(keys, m.legacy.Body(), m.legacy2.Body(), opts.ignore)
	}
	rs.noise.Observe(keys)
	clear(keys) // the set keeps its own references; the pooled slice must not pin them
	m.keys = keys[:0]
}
