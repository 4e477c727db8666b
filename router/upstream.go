package router

import (
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/trace"
	"github.com/valyala/fasthttp"
)

// callUpstream is the router's one call to a legacy upstream (up, named name in
// spans): the legacy stage, the fallback from an isolate, the shadow stage's legacy
// answer, a guest's "next" and the shadow noise probe all go through it. When t is
// on, the request gets a traceparent of its own (any the request carried, in any
// spelling, is dropped first) and the call is recorded as an edged.legacy client
// span with the status the caller will see.
//
// With resp nil it proxies ctx's request and answers ctx (proxy.Upstream.Serve, which
// streams); req must then be nil too. Otherwise it sends req, with X-Forwarded-* from
// ctx (nil once the handler has returned), and buffers the answer in resp, at most
// maxBody bytes (proxy.Upstream.Do). It allocates nothing of its own.
func (t *reqTrace) callUpstream(up *proxy.Upstream, name string, ctx *fasthttp.RequestCtx, req *fasthttp.Request,
	resp *fasthttp.Response, maxBody int64) error {
	if !t.on {
		if resp == nil {
			up.Serve(ctx)
			return nil
		}
		return up.Do(ctx, req, resp, maxBody)
	}
	if resp == nil {
		req = &ctx.Request
	}
	delFold(&req.Header, trace.HeaderTraceparent)
	id, start := t.toUpstream(&req.Header)
	var err error
	var status int
	if resp == nil {
		up.Serve(ctx)
		status = ctx.Response.StatusCode()
	} else if err = up.Do(ctx, req, resp, maxBody); err != nil {
		status = statusFor(err)
	} else {
		status = resp.StatusCode()
	}
	t.upstreamDone(id, start, name, status)
	return err
}
