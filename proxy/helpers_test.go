package proxy

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// countingListener counts accepted connections, to tell pooled from churned ones.
type countingListener struct {
	net.Listener
	accepts atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepts.Add(1)
	}
	return c, err
}

func listenTCP(t testing.TB) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &countingListener{Listener: ln}
}

// startUpstream serves h with fasthttp on loopback TCP, keeping header case as sent.
func startUpstream(t testing.TB, h fasthttp.RequestHandler) *countingListener {
	t.Helper()
	ln := listenTCP(t)
	s := &fasthttp.Server{Handler: h, DisableHeaderNamesNormalizing: true, StreamRequestBody: false,
		MaxRequestBodySize: 256 << 20}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	// Closing ln first also ends a Serve that had not started when Shutdown ran.
	t.Cleanup(func() { _ = ln.Close(); _ = s.Shutdown(); <-done })
	return ln
}

// startRawUpstream runs handle on each accepted connection, for upstreams that misbehave
// at the byte level (garbage, resets, exact framing).
func startRawUpstream(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) *countingListener {
	t.Helper()
	ln := listenTCP(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln
}

// readRawRequest reads one request head (and a Content-Length body) from br.
func readRawRequest(br *bufio.Reader) (*fasthttp.Request, error) {
	req := &fasthttp.Request{}
	req.Header.DisableNormalizing()
	return req, req.Read(br)
}

func newUpstream(t testing.TB, addr string, o Options) *Upstream {
	t.Helper()
	o.URL = "http://" + addr
	u, err := New("test", o, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}

// startFront serves u.Serve on loopback TCP the way edged's server is configured
// (router.ConfigureServer, which this package cannot import): header names as sent, no
// default Content-Type, request bodies up to maxRequestBody (0 for edged's 4 MiB).
func startFront(t testing.TB, u *Upstream, maxRequestBody int) *countingListener {
	t.Helper()
	ln := listenTCP(t)
	if maxRequestBody == 0 {
		maxRequestBody = 4 << 20
	}
	s := &fasthttp.Server{Handler: u.Serve, DisableHeaderNamesNormalizing: true, DisablePreParseMultipartForm: true,
		NoDefaultContentType: true, MaxRequestBodySize: maxRequestBody, ReadBufferSize: 16 << 10,
		ReadTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	// Closing ln first also ends a Serve that had not started when Shutdown ran.
	t.Cleanup(func() { _ = ln.Close(); _ = s.Shutdown(); <-done })
	return ln
}

// rawClient speaks HTTP/1.1 over one connection so tests control every byte sent and
// see header case and order as received.
type rawClient struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawClient{c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) do(t testing.TB, raw string) *fasthttp.Response {
	t.Helper()
	_ = rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.c.Write([]byte(raw)); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp := &fasthttp.Response{}
	resp.Header.DisableNormalizing()
	if err := resp.Read(rc.br); err != nil {
		t.Fatalf("read response to %q: %v", raw, err)
	}
	return resp
}

// closedByPeer reports whether the server closed the connection (EOF within wait).
func (rc *rawClient) closedByPeer(wait time.Duration) bool {
	_ = rc.c.SetReadDeadline(time.Now().Add(wait))
	_, err := rc.br.Peek(1)
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}
