package router

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

// TestConfigureServerErrors pins trap 7: an oversize body is 413 (fasthttp's default
// handler says 400), oversize headers 431, malformed requests 400.
func TestConfigureServerErrors(t *testing.T) {
	ln := upstreamtest.Listen(t)
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain")
		ctx.Write(ctx.Request.Header.RequestURI())
		ctx.WriteString("|")
		for k := range ctx.Request.Header.All() {
			ctx.Write(k)
			ctx.WriteString(",")
		}
	}}
	ConfigureServer(s, ServerOptions{MaxRequestBody: 1 << 10, MaxHeaderSize: 2 << 10})
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	// Closing ln first also ends a Serve that had not started when Shutdown ran.
	t.Cleanup(func() { _ = ln.Close(); _ = s.Shutdown(); <-done })

	for _, tc := range []struct {
		name, raw  string
		wantStatus int
		wantBody   string
	}{
		{"ok", "POST /a/../b HTTP/1.1\r\nHost: x\r\nx-CaseKey: 1\r\nContent-Length: 1024\r\n\r\n" + strings.Repeat("b", 1024),
			200, "/a/../b|Host,Content-Length,x-CaseKey,"},
		{"body too large", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n" + strings.Repeat("b", 1025),
			413, "Request Entity Too Large\n"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("h", 3<<10) + "\r\n\r\n",
			431, "Request Header Fields Too Large\n"},
		{"malformed", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", 400, "Bad Request\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := upstreamtest.Dial(t, ln.Addr().String()).Do(t, tc.raw)
			if resp.StatusCode() != tc.wantStatus || string(resp.Body()) != tc.wantBody {
				t.Errorf("%s: got %d %q, want %d %q", tc.name, resp.StatusCode(), resp.Body(), tc.wantStatus, tc.wantBody)
			}
		})
	}
}

func TestConfigureServerDefaults(t *testing.T) {
	var s fasthttp.Server
	ConfigureServer(&s, ServerOptions{})
	if s.MaxRequestBodySize != DefaultMaxRequestBody || s.ReadBufferSize != DefaultMaxHeaderSize ||
		s.ReadTimeout != DefaultServerReadTimeout || s.IdleTimeout != DefaultServerIdleTimeout ||
		s.WriteTimeout != 0 || !s.DisableHeaderNamesNormalizing || s.ErrorHandler == nil {
		t.Errorf("ConfigureServer(zero options): body %d, header %d, read %v, idle %v, write %v, names %v",
			s.MaxRequestBodySize, s.ReadBufferSize, s.ReadTimeout, s.IdleTimeout, s.WriteTimeout, s.DisableHeaderNamesNormalizing)
	}
}

// TestServeStreamsPastWriteTimeout streams a download that takes more than twice
// write_timeout from a slow upstream through a real Server: every write makes
// progress, so the download completes. A deadline over the whole response (what
// fasthttp's WriteTimeout is) cuts it after one second.
func TestServeStreamsPastWriteTimeout(t *testing.T) {
	const chunks, every = 10, 250 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := range chunks {
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
	})}
	go func() { _ = up.Serve(ln) }()
	t.Cleanup(func() { _ = up.Close() })

	e := startEdgeConfig(t, []strangler.Route{{Name: "dl", Path: "/", Upstream: "mono", Stage: strangler.StageLegacy}},
		&World{Upstreams: map[string]*proxy.Upstream{"mono": upstreamFor(t, ln.Addr().String())}},
		Config{Server: ServerOptions{WriteTimeout: time.Second}})

	resp, err := testClient.Get("http://" + e.addr + "/download")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	var want strings.Builder
	for i := range chunks {
		fmt.Fprintf(&want, "chunk %d\n", i)
	}
	if err != nil || string(body) != want.String() {
		t.Errorf("GET /download with write_timeout 1s = %q, %v; want all %d chunks", body, err, chunks)
	}
}
