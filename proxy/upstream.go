package proxy

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edged/edged/trace"
	"github.com/valyala/fasthttp"
)

// Errors returned by Upstream.Do and mapped to status codes by Upstream.Serve. They are
// matched with errors.Is; the returned error wraps the cause as well.
var (
	// ErrUpstreamTimeout means the response head did not start within
	// Options.ResponseTimeout, or the request could not be written in that time
	// (Serve answers 504).
	ErrUpstreamTimeout = errors.New("upstream timeout")
	// ErrUpstreamUnavailable means the upstream could not be reached or broke the exchange:
	// connection refused or timed out, reset, or an unparsable response (Serve answers 502).
	ErrUpstreamUnavailable = errors.New("upstream unavailable")
	// ErrUpstreamBodyTooLarge means the response body exceeded the cap (Serve answers 502).
	ErrUpstreamBodyTooLarge = errors.New("upstream response body too large")
	// ErrPoolTimeout means all MaxConns connections stayed busy for MaxConnWait
	// (Serve answers 503).
	ErrPoolTimeout = errors.New("upstream connection pool wait expired")
)

// Defaults applied to zero fields of Options.
const (
	DefaultMaxConns        = 512
	DefaultMaxConnWait     = time.Second
	DefaultConnectTimeout  = 2 * time.Second
	DefaultResponseTimeout = 30 * time.Second
	DefaultIdleTimeout     = 60 * time.Second
)

// smallBody is the largest response body with a known length that Serve copies into
// the response instead of streaming it; copying lets the upstream connection go back to
// the pool before the client has read anything.
const smallBody = 64 << 10

// maxIdleConnDuration closes pooled upstream connections idle for this long. It stays
// below the keep-alive timeouts common in legacy stacks (Node.js: 5 s) so the pool
// rarely picks a connection the upstream is about to close.
const maxIdleConnDuration = 4 * time.Second

// Options configures one legacy upstream. Zero values mean the documented
// defaults; negative durations or counts are rejected by New.
type Options struct {
	// URL is the upstream's base, "http://127.0.0.1:9000" or "https://host[:port]",
	// with no path, query or user info. Required.
	URL string
	// MaxConns caps the connections to this upstream. Default 512.
	MaxConns int
	// MaxConnWait bounds the wait for a free connection when MaxConns are busy; when it
	// expires the request fails with ErrPoolTimeout (503, Retry-After: 1). Default 1s.
	MaxConnWait time.Duration
	// ConnectTimeout bounds the TCP connect (and TLS handshake start). Default 2s.
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the time from starting to write the request to the first
	// byte of the response head; it fails with ErrUpstreamTimeout (504). Default 30s.
	ResponseTimeout time.Duration
	// IdleTimeout is the per-read deadline once the response has started: a streamed
	// body may take any total time as long as each read makes progress. Default 60s.
	IdleTimeout time.Duration
	// MaxResponseBody caps response bodies in bytes for Serve; 0 means unlimited.
	// A body over the cap with a known length is answered with 502; a chunked body over
	// the cap is cut off (the client sees an incomplete chunked response).
	MaxResponseBody int64
	// ForwardedFor is "overwrite" (default: at the edge, the client's own
	// X-Forwarded-For is untrusted and replaced) or "append" (behind a trusted balancer).
	ForwardedFor string
}

// Stats is a snapshot of an Upstream's counters, for metrics.
type Stats struct {
	ConnsOpen     int   // connections currently open
	ConnsInUse    int   // open connections currently carrying a request
	ConnsOpened   int64 // connections dialed successfully, total
	Requests      int64 // requests started, total
	Retries       int64 // requests re-sent after a stale connection, total
	PoolTimeouts  int64 // waits for a free connection that expired (503), total
	Timeouts      int64 // response timeouts (504), total
	Errors        int64 // other failures (502), total
	BodyTooLarges int64 // responses over the body cap, total
}

// Upstream is a legacy HTTP upstream with its own connection pool. It is safe for
// concurrent use. Create it with New and release it with Close.
type Upstream struct {
	name        string
	host        string // host[:port] as given, for requests without Host
	tls         bool
	xffAppend   bool
	maxBody     int64
	connTimeout time.Duration
	respTimeout time.Duration
	idleTimeout time.Duration
	log         *slog.Logger
	hc          *fasthttp.HostClient
	dialer      func(addr string, timeout time.Duration) (net.Conn, error) // tests swap in memory listeners
	bufs        sync.Pool                                                  // *[]byte, scratch: X-Forwarded-For, target, atEOF
	streams     sync.Pool                                                  // *bodyStream
	heads       sync.Pool                                                  // *headReader, see copyResponseHead

	open, opened, requests, retries, poolTimeouts, timeouts, errs, tooLarge atomic.Int64
	closed                                                                  atomic.Bool
}

// New validates o, applies defaults and returns an Upstream named name (used in
// errors and logs). log may be nil to discard. No connection is made until a request.
func New(name string, o Options, log *slog.Logger) (*Upstream, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, err := o.check()
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", name, err)
	}
	up := &Upstream{
		name:        name,
		host:        u.Host,
		tls:         u.Scheme == "https",
		xffAppend:   o.ForwardedFor == "append",
		maxBody:     o.MaxResponseBody,
		connTimeout: cmp.Or(o.ConnectTimeout, DefaultConnectTimeout),
		respTimeout: cmp.Or(o.ResponseTimeout, DefaultResponseTimeout),
		idleTimeout: cmp.Or(o.IdleTimeout, DefaultIdleTimeout),
		log:         log.With(slog.String("upstream", name)),
		dialer: func(addr string, timeout time.Duration) (net.Conn, error) {
			return net.DialTimeout("tcp", addr, timeout)
		},
	}
	up.hc = up.hostClient(u, o)
	return up, nil
}

// check validates o and returns its parsed URL, or every problem at once.
func (o Options) check() (*url.URL, error) {
	var errs []error
	u, err := url.Parse(o.URL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("url: %w", err))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("url %q: scheme must be http or https", o.URL))
	case u.Host == "" || u.Hostname() == "":
		errs = append(errs, fmt.Errorf("url %q: missing host", o.URL))
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		errs = append(errs, fmt.Errorf("url %q: must have no path, query, fragment or user info", o.URL))
	}
	if o.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("max_conns: must be >= 0, got %d", o.MaxConns))
	}
	if o.MaxResponseBody < 0 {
		errs = append(errs, fmt.Errorf("max_response_body: must be >= 0, got %d", o.MaxResponseBody))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"max_conn_wait", o.MaxConnWait}, {"connect_timeout", o.ConnectTimeout},
		{"response_timeout", o.ResponseTimeout}, {"idle_timeout", o.IdleTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must be >= 0, got %v", d.key, d.v))
		}
	}
	switch o.ForwardedFor {
	case "", "overwrite", "append":
	default:
		errs = append(errs, fmt.Errorf("forwarded_for: must be \"overwrite\" or \"append\", got %q", o.ForwardedFor))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return u, nil
}

// hostClient is up's connection pool to u, with o's limits.
func (up *Upstream) hostClient(u *url.URL, o Options) *fasthttp.HostClient {
	addr := u.Host
	if u.Port() == "" {
		if up.tls {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	maxConns := o.MaxConns
	if maxConns == 0 {
		maxConns = DefaultMaxConns
	}
	return &fasthttp.HostClient{
		Addr:               addr,
		IsTLS:              up.tls,
		TLSConfig:          &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12},
		Dial:               up.dial,
		MaxConns:           maxConns,
		MaxConnWaitTimeout: cmp.Or(o.MaxConnWait, DefaultMaxConnWait),
		// ReadTimeout stays 0: deadlineConn enforces time-to-first-byte and per-read
		// idle deadlines instead of one deadline over the whole streamed body (trap 9).
		WriteTimeout:                  up.respTimeout,
		MaxIdleConnDuration:           maxIdleConnDuration,
		MaxIdemponentCallAttempts:     3,
		RetryIfErr:                    up.retryIfErr,
		ConnPoolStrategy:              fasthttp.LIFO,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true, // trap 1
		DisablePathNormalizing:        true, // trap 6
		StreamResponseBody:            true, // trap 8
	}
}

// dialError marks a failed connect so it maps to ErrUpstreamUnavailable (502) even when
// the cause is a timeout: only a late response is a gateway timeout.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func (u *Upstream) dial(addr string) (net.Conn, error) {
	if u.closed.Load() {
		return nil, &dialError{net.ErrClosed}
	}
	c, err := u.dialer(addr, u.connTimeout)
	if err != nil {
		return nil, &dialError{err}
	}
	u.open.Add(1)
	u.opened.Add(1)
	return &deadlineConn{Conn: c, responseTimeout: u.respTimeout, idleTimeout: u.idleTimeout, open: &u.open}, nil
}

// retryIfErr allows a retry only for an idempotent request whose pooled connection
// turned out dead before any response byte came back (the upstream closed an idle
// keep-alive connection). It never retries a timeout: fasthttp's default retries any
// error up to 5 times, so a slow upstream was hit 5 times (trap 10).
func (u *Upstream) retryIfErr(req *fasthttp.Request, _ int, err error) (resetTimeout, retry bool) {
	if isTimeout(err) || req.IsBodyStream() || !idempotent(req) {
		return false, false
	}
	if err == io.EOF || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		u.retries.Add(1)
		return false, true
	}
	return false, false
}

func idempotent(req *fasthttp.Request) bool {
	h := &req.Header
	return h.IsGet() || h.IsHead() || h.IsPut() || h.IsDelete() || h.IsOptions() || h.IsTrace()
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// classify wraps a HostClient error with the sentinel callers branch on and counts it.
func (u *Upstream) classify(err error) error {
	var de *dialError
	switch {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		u.poolTimeouts.Add(1)
		return fmt.Errorf("upstream %q: %w: %w", u.name, ErrPoolTimeout, err)
	case errors.As(err, &de):
		u.errs.Add(1)
		return fmt.Errorf("upstream %q: %w: %w", u.name, ErrUpstreamUnavailable, err)
	case isTimeout(err):
		u.timeouts.Add(1)
		return fmt.Errorf("upstream %q: %w: %w", u.name, ErrUpstreamTimeout, err)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		u.tooLarge.Add(1)
		return fmt.Errorf("upstream %q: %w: %w", u.name, ErrUpstreamBodyTooLarge, err)
	default:
		u.errs.Add(1)
		return fmt.Errorf("upstream %q: %w: %w", u.name, ErrUpstreamUnavailable, err)
	}
}

// roundTrip sends a hygienic copy of in (hop-by-hop fields stripped, X-Forwarded-*
// set from ctx when ctx is not nil, request target byte for byte) and leaves the
// response head in resp with its body as an open stream, which the caller must close.
// The copy only borrows in's body, so in must stay untouched until roundTrip returns.
func (u *Upstream) roundTrip(ctx *fasthttp.RequestCtx, in *fasthttp.Request, resp *fasthttp.Response) error {
	if u.closed.Load() {
		return fmt.Errorf("upstream %q: %w: %w", u.name, ErrUpstreamUnavailable, net.ErrClosed)
	}
	u.requests.Add(1)
	out := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(out)
	out.Header.DisableNormalizing()
	out.Header.SetNoDefaultContentType(true)

	bp := u.buf()
	*bp = copyRequestHeader(&out.Header, &in.Header, ctx != nil, (*bp)[:0])
	if ctx != nil {
		*bp = setForwarded(&out.Header, ctx, u.xffAppend, *bp)
	}
	if host := out.Header.Host(); len(host) == 0 {
		out.Header.SetHost(u.host)
	} else if i := bytes.LastIndexByte(host, '@'); i >= 0 {
		// fasthttp's client would send userinfo as Authorization. The pipeline
		// refuses it from clients (originForm); a guest's next may still set it.
		out.Header.SetHostBytes(host[i+1:])
	}
	// The request target goes out exactly as it came in (trap 6); routing decisions
	// were made on a normalised copy (NormalizePath). An absolute-form target (only a
	// guest's next can still have one) goes as its origin-form: its scheme and
	// userinfo would otherwise make fasthttp's client fail or add Authorization.
	if target, _, abs := AppendOriginForm((*bp)[:0], in.Header.RequestURI()); abs {
		*bp = target
		out.SetRequestURIBytes(*bp)
	} else {
		out.SetRequestURIBytes(in.Header.RequestURI())
	}
	u.bufs.Put(bp)
	if u.tls {
		out.URI().SetScheme("https")
	}
	if in.IsBodyStream() {
		out.SetBodyStream(in.BodyStream(), in.Header.ContentLength())
	} else {
		out.SetBodyRaw(in.Body())
	}

	// The HostClient must not see a close flag the server set on a Response meant for
	// the client (trap 4): resp is always our own object.
	resp.Reset()
	// Otherwise the upstream's header reports fasthttp's default Content-Type when the
	// upstream sent none, and that default would be copied to the client.
	resp.Header.SetNoDefaultContentType(true)
	if err := u.hc.Do(out, resp); err != nil {
		return u.classify(err)
	}
	return nil
}

// Serve proxies ctx's request to the upstream and writes the answer into ctx.Response.
//
// Header names keep their case and repeated fields their order; hop-by-hop fields (RFC
// 9110's list and every name listed in Connection, compared case-insensitively) are
// stripped both ways; the upstream's Date is kept (the time of receipt when it sent
// none); X-Forwarded-For is overwritten or appended to per
// Options.ForwardedFor, X-Forwarded-Proto and X-Forwarded-Host are set. The
// path and query are passed byte for byte (fasthttp's client drops only a bare trailing
// "?" with an empty query). Bodies up to 64 KiB with a known length are
// copied; larger or chunked bodies are streamed to the client without buffering.
//
// Failures are answered with a short text/plain body: 502 when the upstream cannot be
// reached, resets or sends garbage (or a body over MaxResponseBody), 504 when the
// response does not start within ResponseTimeout, 503 when no connection became free
// within MaxConnWait. The client's "Connection: close" does not travel upstream and the
// upstream's does not close the client's connection.
//
// Serve reads ctx.Request and must not run concurrently with other writers of ctx.
func (u *Upstream) Serve(ctx *fasthttp.RequestCtx) {
	resp := fasthttp.AcquireResponse()
	if err := u.roundTrip(ctx, &ctx.Request, resp); err != nil {
		fasthttp.ReleaseResponse(resp)
		u.writeError(ctx, err)
		return
	}
	cl := resp.Header.ContentLength()
	if u.maxBody > 0 && int64(cl) > u.maxBody {
		_ = resp.CloseBodyStream()
		fasthttp.ReleaseResponse(resp)
		u.tooLarge.Add(1)
		u.writeError(ctx, fmt.Errorf("upstream %q: %w: content-length %d", u.name, ErrUpstreamBodyTooLarge, cl))
		return
	}
	u.copyResponseHead(&ctx.Response.Header, &resp.Header)

	stream := resp.BodyStream()
	switch {
	case ctx.IsHead() || stream == nil:
		// A HEAD answer or a body-less status: keep the upstream's Content-Length
		// header as it is, send no body.
		ctx.Response.SkipBody = true
		if cl >= 0 {
			ctx.Response.Header.SetContentLength(cl)
		}
		_ = resp.CloseBodyStream()
		fasthttp.ReleaseResponse(resp)
	case cl >= 0 && cl <= smallBody:
		body := ctx.Response.SwapBody(nil)
		if cap(body) < cl {
			body = make([]byte, cl)
		}
		body = body[:cl]
		_, err := io.ReadFull(stream, body)
		if err == nil && !u.atEOF(stream) {
			err = fmt.Errorf("body longer than content-length %d", cl)
		}
		_ = resp.CloseBodyStream()
		fasthttp.ReleaseResponse(resp)
		if err != nil {
			ctx.Response.SwapBody(body)
			u.errs.Add(1)
			u.writeError(ctx, fmt.Errorf("upstream %q: %w: read body: %w", u.name, ErrUpstreamUnavailable, err))
			return
		}
		ctx.Response.SwapBody(body)
	default:
		bs, _ := u.streams.Get().(*bodyStream)
		if bs == nil {
			bs = &bodyStream{u: u}
		}
		bs.resp, bs.r, bs.left, bs.limited = resp, stream, int64(cl), cl < 0 && u.maxBody > 0
		if bs.limited {
			bs.left = u.maxBody
		}
		ctx.Response.SetBodyStream(bs, max(cl, -1))
	}
}

// buf returns a scratch buffer from the Upstream's pool; give it back with bufs.Put.
func (u *Upstream) buf() *[]byte {
	if bp, ok := u.bufs.Get().(*[]byte); ok {
		return bp
	}
	return new([]byte)
}

// atEOF reads once more from a response body that should be complete and reports
// whether that read found the end. Reaching EOF marks the body fully read, so
// fasthttp pools the connection instead of closing it. The byte is read into pooled
// scratch: a local array would escape through the io.Reader call and cost an
// allocation per response.
func (u *Upstream) atEOF(r io.Reader) bool {
	bp := u.buf()
	*bp = append((*bp)[:0], 0)
	n, err := r.Read((*bp)[:1])
	u.bufs.Put(bp)
	return n == 0 && err == io.EOF
}

// bodyStream hands a streamed upstream body to the server and releases the upstream
// response (and pools or closes its connection) when the server closes it.
type bodyStream struct {
	u       *Upstream
	resp    *fasthttp.Response
	r       io.Reader
	left    int64 // bytes still expected (known length) or allowed (limited)
	limited bool
}

func (s *bodyStream) Read(p []byte) (int, error) {
	if s.r == nil {
		return 0, io.EOF
	}
	if s.limited && int64(len(p)) > s.left+1 {
		p = p[:s.left+1]
	}
	n, err := s.r.Read(p)
	if s.left >= 0 {
		s.left -= int64(n)
		if s.limited && s.left < 0 {
			s.u.tooLarge.Add(1)
			return 0, ErrUpstreamBodyTooLarge
		}
		if !s.limited && s.left == 0 && err == nil {
			// The server stops reading after Content-Length bytes; one more read
			// reaches EOF so the connection counts as fully read and is pooled.
			if s.u.atEOF(s.r) {
				err = io.EOF
			}
		}
	}
	if err == io.EOF {
		// Hand the upstream connection back now, before the server flushes the last
		// bytes: the client may send its next request the moment it has them.
		_ = s.resp.CloseBodyStream()
		s.r = nil
	}
	return n, err
}

func (s *bodyStream) Close() error {
	err := s.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(s.resp)
	s.resp, s.r = nil, nil
	s.u.streams.Put(s)
	return err
}

// Do sends req, which the caller has prepared (edged's isolate "next" path and shadow
// mirroring use it), and fills resp with the buffered response. The same header hygiene
// as Serve applies to both directions; X-Forwarded-* are set from ctx, or left as the
// caller set them when ctx is nil (as it must be once the handler has returned, for
// background mirroring). req and its body are only read.
//
// The body is capped at maxBody bytes (<= 0 means the upstream's MaxResponseBody, or
// unlimited when that is 0); beyond it Do returns ErrUpstreamBodyTooLarge. Other errors
// wrap ErrUpstreamTimeout, ErrUpstreamUnavailable or ErrPoolTimeout. Do is safe for
// concurrent use with distinct req/resp.
func (u *Upstream) Do(ctx *fasthttp.RequestCtx, req *fasthttp.Request, resp *fasthttp.Response, maxBody int64) error {
	if maxBody <= 0 {
		maxBody = u.maxBody
	}
	up := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(up)
	if err := u.roundTrip(ctx, req, up); err != nil {
		return err
	}
	cl := int64(up.Header.ContentLength())
	if maxBody > 0 && cl > maxBody {
		_ = up.CloseBodyStream()
		u.tooLarge.Add(1)
		return fmt.Errorf("upstream %q: %w: content-length %d over %d", u.name, ErrUpstreamBodyTooLarge, cl, maxBody)
	}
	resp.Reset()
	u.copyResponseHead(&resp.Header, &up.Header)
	if stream := up.BodyStream(); stream != nil && !req.Header.IsHead() {
		body, err := appendBody(resp.SwapBody(nil)[:0], stream, cl, maxBody)
		resp.SwapBody(body)
		if errors.Is(err, errOverCap) {
			_ = up.CloseBodyStream()
			resp.ResetBody()
			u.tooLarge.Add(1)
			return fmt.Errorf("upstream %q: %w: over %d bytes", u.name, ErrUpstreamBodyTooLarge, maxBody)
		}
		if err != nil {
			_ = up.CloseBodyStream()
			resp.ResetBody()
			u.errs.Add(1)
			return fmt.Errorf("upstream %q: %w: read body: %w", u.name, ErrUpstreamUnavailable, err)
		}
	} else if cl >= 0 {
		resp.SkipBody = true
		resp.Header.SetContentLength(int(cl))
	}
	return up.CloseBodyStream()
}

// errOverCap stops appendBody at the body cap.
var errOverCap = errors.New("over the body cap")

// appendBody appends r's bytes up to its EOF to dst, reading straight into dst's
// spare capacity: io.Copy into a Response's BodyWriter allocated a 32 KiB buffer per
// call, and dst comes from the Response's pooled body buffer. size is the expected
// length (-1 when unknown), used to grow dst once. More than limit bytes (limit > 0)
// end the read with errOverCap; reading to EOF otherwise lets fasthttp pool the
// connection.
func appendBody(dst []byte, r io.Reader, size int64, limit int64) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			// size+1 leaves room for the read that finds EOF. No more than that: the
			// Response's buffer pool drops buffers much larger than the bodies it sees.
			dst = slices.Grow(dst, int(max(size+1-int64(len(dst)-start), 512)))
		}
		room := dst[len(dst):cap(dst)]
		if limit > 0 {
			if left := limit + 1 - int64(len(dst)-start); int64(len(room)) > left {
				room = room[:left]
			}
		}
		n, err := r.Read(room)
		dst = dst[:len(dst)+n]
		switch {
		case limit > 0 && int64(len(dst)-start) > limit:
			return dst, errOverCap
		case err == io.EOF:
			return dst, nil
		case err != nil:
			return dst, err
		}
	}
}

// writeError answers ctx with the status for err and a short plain-text body;
// a 503 (every connection busy for MaxConnWait) carries Retry-After: 1.
func (u *Upstream) writeError(ctx *fasthttp.RequestCtx, err error) {
	code := fasthttp.StatusBadGateway
	switch {
	case errors.Is(err, ErrUpstreamTimeout):
		code = fasthttp.StatusGatewayTimeout
	case errors.Is(err, ErrPoolTimeout):
		code = fasthttp.StatusServiceUnavailable
	}
	// Per-request failures are counted in Stats; the log is for debugging only.
	if u.log.Enabled(context.Background(), slog.LevelDebug) {
		// The pipeline set the request's traceparent to this upstream call's span.
		tc, _ := trace.ParseTraceparent(ctx.Request.Header.Peek(trace.HeaderTraceparent))
		u.log.Debug("upstream request failed", slog.Int("status", code), slog.Any("err", err),
			slog.String("trace_id", tc.TraceID.String()))
	}
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(code)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString(fasthttp.StatusMessage(code) + "\n")
	if code == fasthttp.StatusServiceUnavailable {
		// Busy, not broken: clients back off instead of retrying at once.
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
	}
}

// Stats returns a snapshot of the counters. It is safe for concurrent use.
func (u *Upstream) Stats() Stats {
	open := u.hc.ConnsCount()
	return Stats{
		ConnsOpen:     int(u.open.Load()),
		ConnsInUse:    max(open-u.hc.IdleConnsCount(), 0),
		ConnsOpened:   u.opened.Load(),
		Requests:      u.requests.Load(),
		Retries:       u.retries.Load(),
		PoolTimeouts:  u.poolTimeouts.Load(),
		Timeouts:      u.timeouts.Load(),
		Errors:        u.errs.Load(),
		BodyTooLarges: u.tooLarge.Load(),
	}
}

// AppendsForwardedFor reports whether the upstream keeps the X-Forwarded-For values a
// client sent (Options.ForwardedFor "append"), for callers that build a request to Do
// after the client's RequestCtx is gone and must set the fields the same way.
func (u *Upstream) AppendsForwardedFor() bool { return u.xffAppend }

// Close closes idle connections and makes further requests fail with
// ErrUpstreamUnavailable; requests in flight finish. It is safe to call twice.
func (u *Upstream) Close() error {
	u.closed.Store(true)
	u.hc.CloseIdleConnections()
	return nil
}
