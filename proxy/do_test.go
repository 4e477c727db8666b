package proxy

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"
	"testing/iotest"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

func TestUpstreamDo(t *testing.T) {
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/hop":
			ctx.Response.Header.Set("Keep-Alive", "timeout=1")
			ctx.Response.Header.Set("Connection", "X-Gone")
			ctx.Response.Header.Set("X-Gone", "1")
		}
		n, _ := strconv.Atoi(string(ctx.QueryArgs().Peek("n")))
		body := bytes.Repeat([]byte("d"), n)
		if ctx.QueryArgs().Has("chunked") {
			ctx.SetBodyStream(bytes.NewReader(body), -1)
		} else {
			ctx.SetBody(body)
		}
		ctx.Response.Header.Set("X-Saw-Te", string(ctx.Request.Header.Peek("TE")))
		ctx.Response.Header.Set("X-Saw-XFF", string(ctx.Request.Header.Peek("X-Forwarded-For")))
	})
	u := newUpstream(t, up.Addr().String(), Options{ResponseTimeout: 100 * time.Millisecond})
	for _, tc := range []struct {
		name    string
		target  string
		maxBody int64
		wantErr error
		wantLen int
	}{
		{"small", "/?n=10", 100, nil, 10},
		{"at cap", "/?n=100", 100, nil, 100},
		{"length over cap", "/?n=101", 100, ErrUpstreamBodyTooLarge, 0},
		{"chunked at cap", "/?n=100&chunked", 100, nil, 100},
		{"chunked over cap", "/?n=5000&chunked", 100, ErrUpstreamBodyTooLarge, 0},
		{"large uncapped", "/?n=300000&chunked", 0, nil, 300000},
		{"timeout", "/slow", 0, ErrUpstreamTimeout, 0},
		{"hop-by-hop", "/hop?n=1", 0, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := fasthttp.AcquireRequest()
			defer fasthttp.ReleaseRequest(req)
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(tc.target)
			req.Header.SetHost("app.example")
			req.Header.Set("TE", "trailers")
			req.Header.Set("X-Forwarded-For", "10.1.1.1") // nil ctx: left as the caller set it
			err := u.Do(nil, req, resp, tc.maxBody)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("Do(%q, %d) = %v, want %v", tc.target, tc.maxBody, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if len(resp.Body()) != tc.wantLen {
				t.Errorf("Do(%q) body = %d bytes, want %d", tc.target, len(resp.Body()), tc.wantLen)
			}
			if v := string(resp.Header.Peek("X-Saw-Te")); v != "" {
				t.Errorf("upstream saw TE %q, want none", v)
			}
			if v := string(resp.Header.Peek("X-Saw-XFF")); v != "10.1.1.1" {
				t.Errorf("upstream saw X-Forwarded-For %q, want the caller's 10.1.1.1", v)
			}
			for _, h := range []string{"Keep-Alive", "Connection", "X-Gone"} {
				if v := resp.Header.Peek(h); len(v) > 0 {
					t.Errorf("response kept hop-by-hop %s: %q", h, v)
				}
			}
		})
	}
	// Caps closed streamed connections without reading them; the pool still works.
	if s := u.Stats(); s.BodyTooLarges != 2 || s.Timeouts != 1 {
		t.Errorf("Stats() = %+v, want 2 too-large and 1 timeout", s)
	}
}

func TestNewUpstreamValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"minimal", Options{URL: "http://127.0.0.1:9000"}, true},
		{"https default port", Options{URL: "https://legacy.internal"}, true},
		{"trailing slash", Options{URL: "http://127.0.0.1:9000/"}, true},
		{"append", Options{URL: "http://h:1", ForwardedFor: "append"}, true},
		{"empty", Options{}, false},
		{"scheme", Options{URL: "ftp://h:1"}, false},
		{"path", Options{URL: "http://h:1/api"}, false},
		{"query", Options{URL: "http://h:1?x"}, false},
		{"userinfo", Options{URL: "http://u:p@h:1"}, false},
		{"negative conns", Options{URL: "http://h:1", MaxConns: -1}, false},
		{"negative timeout", Options{URL: "http://h:1", ResponseTimeout: -time.Second}, false},
		{"xff mode", Options{URL: "http://h:1", ForwardedFor: "replace"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := New(tc.name, tc.o, nil)
			if (err == nil) != tc.ok {
				t.Errorf("New(%+v) error = %v, want ok=%v", tc.o, err, tc.ok)
			}
			if u != nil {
				if err := u.Close(); err != nil {
					t.Errorf("Close() = %v", err)
				}
				if err := u.Close(); err != nil {
					t.Errorf("second Close() = %v", err)
				}
			}
		})
	}
}

func TestUpstreamClosed(t *testing.T) {
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) { ctx.WriteString("ok") })
	u := newUpstream(t, up.Addr().String(), Options{})
	_ = u.Close()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI("/")
	req.Header.SetHost("x")
	var resp fasthttp.Response
	if err := u.Do(nil, req, &resp, 0); !errors.Is(err, ErrUpstreamUnavailable) {
		t.Errorf("Do after Close = %v, want ErrUpstreamUnavailable", err)
	}
}

func TestAppendBody(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000) // 10000 bytes
	broken := errors.New("reset")
	tests := []struct {
		name    string
		r       io.Reader
		size    int64
		limit   int64
		wantLen int
		wantErr error
	}{
		{"known size", bytes.NewReader(data), 10000, 0, 10000, nil},
		{"unknown size", bytes.NewReader(data), -1, 0, 10000, nil},
		{"one byte a read", iotest.OneByteReader(bytes.NewReader(data)), -1, 0, 10000, nil},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(data)), -1, 0, 10000, nil},
		{"at cap", bytes.NewReader(data), -1, 10000, 10000, nil},
		{"one over cap", bytes.NewReader(data), -1, 9999, 0, errOverCap},
		{"one over cap, one byte a read", iotest.OneByteReader(bytes.NewReader(data)), 10000, 9999, 0, errOverCap},
		{"size understated", bytes.NewReader(data), 10, 0, 10000, nil},
		{"reader fails", io.MultiReader(bytes.NewReader(data[:50]), iotest.ErrReader(broken)), -1, 0, 0, broken},
		{"empty", bytes.NewReader(nil), 0, 100, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := appendBody([]byte("pre"), tc.r, tc.size, tc.limit)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("appendBody = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if tc.limit > 0 && len(got)-3 != int(tc.limit)+1 {
					t.Errorf("appendBody read %d bytes before stopping, want the cap + 1 = %d", len(got)-3, tc.limit+1)
				}
				return
			}
			if string(got) != "pre"+string(data[:tc.wantLen]) {
				t.Errorf("appendBody = %d bytes, want \"pre\" and %d bytes of the body", len(got), tc.wantLen)
			}
		})
	}
}

// TestDoPoolsAndAllocs: Do reads each body to its end, so one connection serves
// every call, and allocates only what fasthttp's streaming client does per response
// (it once copied through a 32 KiB buffer of its own, and a LimitReader under a cap).
// Allocations are counted for bodies with a length only: the in-process upstream
// allocates for a chunked answer itself, and the count is the whole process's.
func TestDoPoolsAndAllocs(t *testing.T) {
	body := bytes.Repeat([]byte("b"), 1000)
	ln := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		if ctx.QueryArgs().Has("chunked") {
			ctx.SetBodyStream(bytes.NewReader(body), -1)
			return
		}
		ctx.SetBody(body)
	})
	u := newUpstream(t, ln.Addr().String(), Options{})
	var req fasthttp.Request
	var resp fasthttp.Response
	req.Header.SetHost("app.example")
	for _, tc := range []struct {
		name    string
		target  string
		maxBody int64
		allocs  bool
	}{
		{"length", "/", 0, true},
		{"length under a cap", "/", 1 << 20, true},
		{"chunked", "/?chunked", 0, false},
		{"chunked under a cap", "/?chunked", 1 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req.SetRequestURI(tc.target)
			do := func() {
				if err := u.Do(nil, &req, &resp, tc.maxBody); err != nil || !bytes.Equal(resp.Body(), body) {
					t.Fatalf("Do(%s) = %v with %d bytes", tc.target, err, len(resp.Body()))
				}
			}
			for range 20 {
				do()
			}
			if n := ln.Accepts(); n != 1 {
				t.Errorf("the upstream accepted %d connections, want 1 (bodies read to the end)", n)
			}
			if raceEnabled || !tc.allocs {
				return
			}
			if a := testing.AllocsPerRun(100, do); a > 4 {
				t.Errorf("Do: %v allocations per call, want at most fasthttp's 4", a)
			}
		})
	}
}

// TestNewHostClient: the pool dials the URL's port, or the scheme's, and
// takes the default connection cap when none is set.
func TestNewHostClient(t *testing.T) {
	for _, tc := range []struct {
		name     string
		o        Options
		addr     string
		tls      bool
		maxConns int
	}{
		{"http default port", Options{URL: "http://legacy.internal"}, "legacy.internal:80", false, DefaultMaxConns},
		{"https default port", Options{URL: "https://legacy.internal/"}, "legacy.internal:443", true, DefaultMaxConns},
		{"explicit port", Options{URL: "https://legacy.internal:8443", MaxConns: 7}, "legacy.internal:8443", true, 7},
		{"IPv6 default port", Options{URL: "http://[::1]"}, "[::1]:80", false, DefaultMaxConns},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := New(tc.name, tc.o, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			if u.hc.Addr != tc.addr || u.hc.IsTLS != tc.tls || u.hc.MaxConns != tc.maxConns {
				t.Errorf("pool dials %s tls=%v max_conns=%d, want %s tls=%v max_conns=%d",
					u.hc.Addr, u.hc.IsTLS, u.hc.MaxConns, tc.addr, tc.tls, tc.maxConns)
			}
		})
	}
}
