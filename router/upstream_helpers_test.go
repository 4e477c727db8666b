package router

import (
	"bufio"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged/edged/proxy"
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

func newUpstream(t testing.TB, addr string, o proxy.Options) *proxy.Upstream {
	t.Helper()
	o.URL = "http://" + addr
	u, err := proxy.New("test", o, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
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
