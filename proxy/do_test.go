package proxy

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestUpstreamDo(t *testing.T) {
	up := startUpstream(t, func(ctx *fasthttp.RequestCtx) {
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
	up := startUpstream(t, func(ctx *fasthttp.RequestCtx) { ctx.WriteString("ok") })
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
