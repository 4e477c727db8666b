package router

import (
	"errors"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Defaults applied to zero fields of ServerOptions.
const (
	DefaultMaxRequestBody    = 4 << 20
	DefaultMaxHeaderSize     = 16 << 10
	DefaultServerReadTimeout = 30 * time.Second
	DefaultServerIdleTimeout = 60 * time.Second
)

// ServerOptions configures the edge's fasthttp server. Zero values mean the defaults.
type ServerOptions struct {
	// MaxRequestBody caps request bodies in bytes; larger ones get 413. Default 4 MiB.
	MaxRequestBody int
	// MaxHeaderSize caps the request line plus headers in bytes; larger ones get 431.
	// Default 16 KiB.
	MaxHeaderSize int
	// ReadTimeout bounds reading one request, head and body. Default 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one whole response. Default 0, no bound: a deadline
	// over the whole response would cut long streamed downloads (trap 9 in
	// docs/proxy.md); the proxy's per-read idle deadline bounds stalled upstreams.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive connection.
	// Default 60s.
	IdleTimeout time.Duration
}

// ConfigureServer sets on s what the edge needs: header names and request paths kept
// as the client sent them (the proxy forwards them byte for byte; the router matches on
// NormalizePath's copy), the size caps and timeouts of o, and an ErrorHandler answering
// 413 for an oversize body, 431 for oversize headers, 408 for a read timeout and 400
// otherwise, each with a short plain-text body. Other fields of s are left alone.
func ConfigureServer(s *fasthttp.Server, o ServerOptions) {
	s.DisableHeaderNamesNormalizing = true
	s.DisablePreParseMultipartForm = true
	s.NoDefaultContentType = true
	s.MaxRequestBodySize = orInt(o.MaxRequestBody, DefaultMaxRequestBody)
	// fasthttp reads the whole request head into its read buffer, so the buffer size is
	// the header cap.
	s.ReadBufferSize = orInt(o.MaxHeaderSize, DefaultMaxHeaderSize)
	s.ReadTimeout = or(o.ReadTimeout, DefaultServerReadTimeout)
	s.WriteTimeout = o.WriteTimeout
	s.IdleTimeout = or(o.IdleTimeout, DefaultServerIdleTimeout)
	s.ErrorHandler = serverError
}

func orInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// serverError maps request-parsing errors to status codes; fasthttp's default answers 400
// for an oversize body (trap 7).
func serverError(ctx *fasthttp.RequestCtx, err error) {
	code := fasthttp.StatusBadRequest
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		code = fasthttp.StatusRequestEntityTooLarge
	case errors.As(err, &small):
		code = fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		code = fasthttp.StatusRequestTimeout
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(code)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(fasthttp.StatusMessage(code) + "\n")
	ctx.SetConnectionClose()
}
