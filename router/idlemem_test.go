//go:build !race

package router

import (
	"bufio"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

// TestIdleConnectionHeap: a keep-alive connection that answered a request and
// now waits for the next one holds no read buffer (MaxHeaderSize, 16 KiB), write
// buffer or request context, unless KeepIdleBuffers asks for them: the Go heap
// in use per idle connection stays under 4 KiB, against about 20 KiB with the
// buffers kept. Heap bytes, not time; excluded from race builds, whose
// instrumentation allocates.
func TestIdleConnectionHeap(t *testing.T) {
	const conns = 256
	for _, tc := range []struct {
		name    string
		keep    bool
		atMost  uint64 // heap bytes per idle connection
		atLeast uint64
	}{
		{"default: buffers given back", false, 4 << 10, 0},
		{"KeepIdleBuffers", true, 1 << 20, DefaultMaxHeaderSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := upstreamtest.Listen(t)
			s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.WriteString("ok") }}
			ConfigureServer(s, ServerOptions{KeepIdleBuffers: tc.keep})
			done := make(chan struct{})
			go func() { defer close(done); _ = s.Serve(ln) }()
			t.Cleanup(func() { _ = ln.Close(); _ = s.Shutdown(); <-done })

			before := heapInUse()
			cs := make([]net.Conn, 0, conns)
			t.Cleanup(func() {
				for _, c := range cs {
					c.Close()
				}
			})
			var buf [256]byte
			for range conns {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				cs = append(cs, c)
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
				// The answer is one small segment; read it whole so that the
				// server's connection is idle, waiting for the next request.
				br := bufio.NewReaderSize(c, 16)
				line, err := br.ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
					t.Fatalf("answer %q, %v", line, err)
				}
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						t.Fatal(err)
					}
					if l == "\r\n" {
						break
					}
				}
				if _, err := br.Read(buf[:2]); err != nil {
					t.Fatal(err)
				}
			}
			if open := s.GetOpenConnectionsCount(); open != conns {
				t.Fatalf("server has %d connections open, want %d", open, conns)
			}
			after := heapInUse()
			per := (after - min(before, after)) / conns
			t.Logf("heap in use per idle connection: %d bytes", per)
			if per > tc.atMost || per < tc.atLeast {
				t.Errorf("heap in use per idle connection = %d bytes, want %d to %d", per, tc.atLeast, tc.atMost)
			}
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
