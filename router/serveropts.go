package router

import (
	"errors"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Defaults applied to zero fields of ServerOptions. They are the defaults of
// router.toml's [server] too: internal/config takes them from here.
const (
	DefaultMaxRequestBody     = 4 << 20
	DefaultMaxHeaderSize      = 16 << 10
	DefaultServerReadTimeout  = 30 * time.Second
	DefaultServerWriteTimeout = 30 * time.Second
	DefaultServerIdleTimeout  = 60 * time.Second
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
	// WriteTimeout bounds each write to the client: a client that takes none of the
	// response for this long is cut off, however long the whole response takes.
	// Default 30s. Server.Serve applies it per write; fasthttp's own WriteTimeout
	// bounds the whole response, which would cut long streamed downloads (see
	// RATIONALE.md, "Write deadlines are per write"), so ConfigureServer leaves that
	// at 0.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive connection.
	// Default 60s.
	IdleTimeout time.Duration
	// KeepIdleBuffers keeps a connection's read and write buffers and request
	// context while it waits for its next request. The default (false) gives
	// them back after every request (fasthttp's ReduceMemoryUsage): an idle
	// keep-alive connection then costs about 7 KiB of edged's RSS instead of
	// about 18 KiB (the read buffer is MaxHeaderSize), for a few percent more
	// CPU per request (docs/performance.md, "Surge").
	KeepIdleBuffers bool
}

// ConfigureServer sets on s what the edge needs: header names and request paths kept
// as the client sent them (the proxy forwards them byte for byte; the router matches on
// NormalizePath's copy), the size caps and timeouts of o, and an ErrorHandler answering
// 413 for an oversize body, 431 for oversize headers, 408 for a read timeout and 400
// otherwise, each with a short plain-text body. Unless o.KeepIdleBuffers, an idle
// keep-alive connection holds no buffers (ReduceMemoryUsage). Other fields of s are
// left alone, among them Concurrency (fasthttp's 262,144 connections; the open files
// limit bounds them first) and MaxConnsPerIP (unlimited: behind a load balancer
// every connection comes from a few addresses). o.WriteTimeout is not set on s
// (Server.Serve applies it per write, see WriteDeadlineListener).
func ConfigureServer(s *fasthttp.Server, o ServerOptions) {
	s.DisableHeaderNamesNormalizing = true
	s.DisablePreParseMultipartForm = true
	s.NoDefaultContentType = true
	s.MaxRequestBodySize = orInt(o.MaxRequestBody, DefaultMaxRequestBody)
	// fasthttp reads the whole request head into its read buffer, so the buffer size is
	// the header cap.
	s.ReadBufferSize = orInt(o.MaxHeaderSize, DefaultMaxHeaderSize)
	s.ReadTimeout = or(o.ReadTimeout, DefaultServerReadTimeout)
	s.WriteTimeout = 0
	s.IdleTimeout = or(o.IdleTimeout, DefaultServerIdleTimeout)
	s.ErrorHandler = serverError
	// A keep-alive connection spends most of its life idle: without this it holds a
	// MaxHeaderSize read buffer, a write buffer and a RequestCtx while it waits.
	s.ReduceMemoryUsage = !o.KeepIdleBuffers
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
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

// WriteDeadlineListener returns ln with a write deadline of d (<= 0:
// DefaultServerWriteTimeout) renewed before each write on every accepted
// connection: a response may take as long as it needs while the client keeps
// taking bytes, but a client that stops reading for about d is cut off. The
// deadline is renewed once d/16 has passed since the last renewal, so it falls
// between 15/16 d and d after a write begins. Server.Serve uses it; embed it
// when serving Handler from a fasthttp server of your own.
func WriteDeadlineListener(ln net.Listener, d time.Duration) net.Listener {
	return &writeDeadlineListener{Listener: ln, d: or(d, DefaultServerWriteTimeout)}
}

type writeDeadlineListener struct {
	net.Listener
	d time.Duration
}

func (l *writeDeadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &writeDeadlineConn{Conn: c, d: l.d}, nil
}

// writeDeadlineConn renews its write deadline before writes. fasthttp writes a
// connection from one goroutine at a time, so set needs no lock.
type writeDeadlineConn struct {
	net.Conn
	d   time.Duration
	set time.Time // when the deadline was last renewed
}

func (c *writeDeadlineConn) Write(p []byte) (int, error) {
	if now := time.Now(); now.Sub(c.set) > c.d/16 {
		if err := c.Conn.SetWriteDeadline(now.Add(c.d)); err != nil {
			return 0, err
		}
		c.set = now
	}
	return c.Conn.Write(p)
}
