package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// benchUpstream is an in-memory fasthttp upstream answering ~1 KB, so the benchmark
// measures the proxy and not the network.
func benchUpstream(b testing.TB) *Upstream {
	b.Helper()
	ln := fasthttputil.NewInmemoryListener()
	body := bytes.Repeat([]byte("x"), 1000)
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain")
		ctx.SetBody(body)
	}, DisableHeaderNamesNormalizing: true}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	b.Cleanup(func() { _ = ln.Close(); _ = s.Shutdown(); <-done })
	u, err := New("bench", Options{URL: "http://upstream.invalid:80"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	u.dialer = func(string, time.Duration) (net.Conn, error) { return ln.Dial() }
	b.Cleanup(func() { _ = u.Close() })
	return u
}

func BenchmarkServe(b *testing.B) {
	u := benchUpstream(b)
	var req fasthttp.Request
	req.Header.DisableNormalizing()
	req.SetRequestURI("/api/users/42?expand=orders")
	req.Header.SetHost("app.example")
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Request-Id", "0123456789abcdef")
	remote := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5000}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, remote, nil)
		for pb.Next() {
			u.Serve(&ctx)
			if ctx.Response.StatusCode() != 200 || len(ctx.Response.Body()) != 1000 {
				b.Fatalf("Serve = %d with %d bytes", ctx.Response.StatusCode(), len(ctx.Response.Body()))
			}
			ctx.Response.Reset()
		}
	})
}

// BenchmarkDo measures the buffered call a guest's "next" and the shadow stage make,
// with the body cap they pass and without one.
func BenchmarkDo(b *testing.B) {
	u := benchUpstream(b)
	for _, maxBody := range []int64{0, 1 << 20} {
		b.Run(fmt.Sprintf("max_body=%d", maxBody), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var req fasthttp.Request
				var resp fasthttp.Response
				req.Header.DisableNormalizing()
				req.SetRequestURI("/api/users/42")
				req.Header.SetHost("app.example")
				for pb.Next() {
					if err := u.Do(nil, &req, &resp, maxBody); err != nil || len(resp.Body()) != 1000 {
						b.Fatalf("Do = %v with %d bytes", err, len(resp.Body()))
					}
				}
			})
		})
	}
}

// BenchmarkCopyResponseHead compares carrying the upstream's head over with its Date
// (written out and read back) against copying the fields with Add, which drops Date.
func BenchmarkCopyResponseHead(b *testing.B) {
	var src, dst fasthttp.ResponseHeader
	src.DisableNormalizing()
	head := "HTTP/1.1 200 OK\r\nDate: Tue, 15 Nov 1994 08:12:31 GMT\r\nContent-Type: application/json\r\n" +
		"Cache-Control: no-store\r\nX-Request-Id: 0123456789abcdef\r\nVary: Accept-Encoding\r\nContent-Length: 1000\r\n\r\n"
	if err := src.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
		b.Fatal(err)
	}
	u, err := New("bench", Options{URL: "http://upstream.invalid:80"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("add", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst.Reset()
			dst.DisableNormalizing()
			copyResponseHeader(&dst, &src)
		}
	})
	b.Run("head", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst.Reset()
			u.copyResponseHead(&dst, &src)
		}
	})
}
