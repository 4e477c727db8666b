package proxy

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

// startRawUpstream runs handle on each accepted connection, for upstreams that misbehave
// at the byte level (garbage, resets, exact framing).
func startRawUpstream(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) *upstreamtest.Listener {
	t.Helper()
	ln := upstreamtest.Listen(t)
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
func startFront(t testing.TB, u *Upstream, maxRequestBody int) *upstreamtest.Listener {
	t.Helper()
	ln := upstreamtest.Listen(t)
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
