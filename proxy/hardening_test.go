package proxy

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

// seenRequest is what a recording upstream was sent.
type seenRequest struct {
	target string              // the request line's target
	header map[string][]string // names lower-cased, values in order
}

func nextSeen(t *testing.T, seen chan seenRequest) seenRequest {
	t.Helper()
	select {
	case r := <-seen:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("the upstream got no request")
	}
	return seenRequest{}
}

// TestDoSendsOriginForm: a request a guest hands to "next" with an absolute target or
// userinfo in Host reaches the upstream in origin-form, without an Authorization
// header made from the userinfo.
func TestDoSendsOriginForm(t *testing.T) {
	seen := make(chan seenRequest, 4)
	ln := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		r := seenRequest{target: string(ctx.Request.Header.RequestURI()), header: map[string][]string{}}
		for k, v := range ctx.Request.Header.All() {
			r.header[strings.ToLower(string(k))] = append(r.header[strings.ToLower(string(k))], string(v))
		}
		seen <- r
	})
	u := newUpstream(t, ln.Addr().String(), Options{})
	tests := []struct{ name, target, host, wantTarget, wantHost string }{
		{"absolute with userinfo", "https://u:p@elsewhere/p?q", "app", "/p?q", "app"},
		{"userinfo in host", "/p", "u:p@app", "/p", "app"},
		{"absolute without path", "http://x", "app", "/", "app"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.Header.DisableNormalizing()
			req.Header.SetRequestURI(tc.target)
			req.Header.SetHost(tc.host)
			if err := u.Do(nil, req, resp, 0); err != nil {
				t.Fatalf("Do(%s, Host %s) = %v", tc.target, tc.host, err)
			}
			r := nextSeen(t, seen)
			if r.target != tc.wantTarget || strings.Join(r.header["host"], ",") != tc.wantHost ||
				r.header["authorization"] != nil {
				t.Errorf("upstream got %q, Host %q, Authorization %q; want %q, Host %q, none",
					r.target, r.header["host"], r.header["authorization"], tc.wantTarget, tc.wantHost)
			}
		})
	}
}

// TestCopyResponseHeadAllocs: carrying the upstream's Date through (the head is
// written out and read back) adds no allocation to the legacy proxy.
func TestCopyResponseHeadAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	u := newUpstream(t, "127.0.0.1:1", Options{})
	var src, dst fasthttp.ResponseHeader
	src.DisableNormalizing()
	head := "HTTP/1.1 200 OK\r\nDate: Tue, 15 Nov 1994 08:12:31 GMT\r\nContent-Type: text/plain\r\n" +
		"Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nSet-Cookie: a=b\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 2\r\n\r\n"
	if err := src.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
		t.Fatal(err)
	}
	copyHead := func() {
		dst.Reset()
		u.copyResponseHead(&dst, &src)
	}
	copyHead()
	want := "HTTP/1.1 200 OK\r\nDate: Tue, 15 Nov 1994 08:12:31 GMT\r\nContent-Type: text/plain\r\n" +
		"X-A: 1\r\nX-A: 2\r\nSet-Cookie: a=b\r\n\r\n"
	if got := dst.String(); !strings.Contains(got, "X-A: 1\r\nX-A: 2\r\n") || strings.Contains(got, "X-Hop") ||
		!strings.Contains(got, "Set-Cookie: a=b") || strings.Count(got, "Date:") != 1 || strings.Contains(got, "Content-Length") {
		t.Errorf("copyResponseHead = %q, want the fields of %q", got, want)
	}
	if n := testing.AllocsPerRun(200, copyHead); n != 0 {
		t.Errorf("copyResponseHead: %v allocations, want 0", n)
	}
}
