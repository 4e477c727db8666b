package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

// TestServeClientConnectionClose pins trap 4, client side: a client's "Connection: close"
// must not tear down pooled upstream connections, for copied and streamed bodies alike.
func TestServeClientConnectionClose(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB: streamed
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/big":
			ctx.SetBody(big)
		case "/chunked":
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) { _, _ = w.Write(big) })
		default:
			ctx.WriteString("small")
		}
	})
	for _, tc := range []struct {
		name, path string
		n          int
		size       int
	}{
		{"small", "/small", 200, 5},
		{"streamed", "/big", 50, len(big)},
		{"chunked", "/chunked", 50, len(big)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.Accepts()
			u := newUpstream(t, up.Addr().String(), Options{})
			front := startFront(t, u, 0)
			for i := range tc.n {
				rc := upstreamtest.Dial(t, front.Addr().String())
				resp := rc.Do(t, "GET "+tc.path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
				if len(resp.Body()) != tc.size {
					t.Fatalf("request %d: body %d bytes, want %d", i, len(resp.Body()), tc.size)
				}
				if !resp.ConnectionClose() {
					t.Fatalf("request %d: the client asked to close but the answer lacks Connection: close", i)
				}
				_ = rc.Conn.Close()
			}
			if got := up.Accepts() - before; got != 1 {
				t.Errorf("%d requests with Connection: close opened %d upstream connections, want 1", tc.n, got)
			}
		})
	}
}

// TestServeUpstreamConnectionClose pins trap 4, upstream side: an upstream's
// "Connection: close" must not close the client's connection.
func TestServeUpstreamConnectionClose(t *testing.T) {
	big := bytes.Repeat([]byte("z"), 200<<10)
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetConnectionClose()
		if string(ctx.Path()) == "/big" {
			ctx.SetBody(big)
			return
		}
		ctx.WriteString("bye")
	})
	u := newUpstream(t, up.Addr().String(), Options{})
	front := startFront(t, u, 0)
	rc := upstreamtest.Dial(t, front.Addr().String())
	for i, path := range []string{"/a", "/big", "/b", "/big", "/c"} {
		resp := rc.Do(t, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode() != 200 || resp.ConnectionClose() {
			t.Fatalf("request %d: status %d, close %v; want 200 keeping the client connection",
				i, resp.StatusCode(), resp.ConnectionClose())
		}
	}
	if rc.ClosedByPeer(50 * time.Millisecond) {
		t.Error("client connection closed after upstream answers with Connection: close")
	}
	if got := up.Accepts(); got != 5 {
		t.Errorf("upstream accepts = %d, want 5 (the upstream closes each one)", got)
	}
}

// TestServeResponseTimeout pins traps 9 and 10: a slow upstream is answered with 504
// after about ResponseTimeout, and is hit exactly once (no retry after a timeout).
func TestServeResponseTimeout(t *testing.T) {
	const timeout = 250 * time.Millisecond
	var hits atomic.Int64
	release := make(chan struct{})
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		<-release
	})
	defer close(release)
	u := newUpstream(t, up.Addr().String(), Options{ResponseTimeout: timeout})
	front := startFront(t, u, 0)
	for _, method := range []string{"GET", "PUT"} {
		t.Run(method, func(t *testing.T) {
			hits.Store(0)
			start := time.Now()
			resp := upstreamtest.Dial(t, front.Addr().String()).Do(t, method+" /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
			elapsed := time.Since(start)
			if resp.StatusCode() != 504 {
				t.Errorf("status = %d, want 504", resp.StatusCode())
			}
			if elapsed < timeout || elapsed > 4*timeout { // 5 tries would be >= 5*timeout
				t.Errorf("504 after %v, want about %v", elapsed, timeout)
			}
			if got := hits.Load(); got != 1 {
				t.Errorf("upstream hit %d times, want 1", got)
			}
		})
	}
	if s := u.Stats(); s.Timeouts != 2 || s.Retries != 0 {
		t.Errorf("Stats() = %+v, want Timeouts 2, Retries 0", s)
	}
}

// TestServeIdleTimeout pins trap 9 for bodies: a body that keeps flowing may take longer
// than every timeout in total, but one that stalls past IdleTimeout is cut.
func TestServeIdleTimeout(t *testing.T) {
	const gap = 60 * time.Millisecond
	up := startRawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		req, err := readRawRequest(br)
		if err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		stall := string(req.URI().Path()) == "/stall"
		for i := range 12 {
			if stall && i == 3 {
				time.Sleep(10 * gap) // the one place a sleep is the behaviour under test
			}
			time.Sleep(gap)
			_, _ = fmt.Fprintf(c, "4\r\n%04d\r\n", i)
		}
		_, _ = io.WriteString(c, "0\r\n\r\n")
	})
	// ResponseTimeout and IdleTimeout are both shorter than the whole body (12 gaps).
	u := newUpstream(t, up.Addr().String(), Options{ResponseTimeout: 4 * gap, IdleTimeout: 4 * gap})
	front := startFront(t, u, 0)

	resp := upstreamtest.Dial(t, front.Addr().String()).Do(t, "GET /flow HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := len(resp.Body()); resp.StatusCode() != 200 || got != 48 {
		t.Errorf("flowing body: status %d, %d bytes; want 200 with 48 bytes", resp.StatusCode(), got)
	}

	rc := upstreamtest.Dial(t, front.Addr().String())
	if _, err := io.WriteString(rc.Conn, "GET /stall HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = rc.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp = &fasthttp.Response{}
	if err := resp.Read(rc.R); err == nil {
		t.Errorf("stalled body read completely (%d bytes), want the stream cut", len(resp.Body()))
	}
}

// TestServePoolCap: with MaxConns=N, N+1 concurrent slow requests put one in the queue,
// which gets 503 after MaxConnWait; a connection freed in time serves a waiter.
func TestServePoolCap(t *testing.T) {
	const n, wait = 3, 150 * time.Millisecond
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		ctx.WriteString("ok")
	})
	u := newUpstream(t, up.Addr().String(), Options{MaxConns: n, MaxConnWait: wait})
	front := startFront(t, u, 0)

	var wg sync.WaitGroup
	codes := make(chan int, n)
	for range n {
		rc := upstreamtest.Dial(t, front.Addr().String())
		wg.Go(func() { codes <- rc.Do(t, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").StatusCode() })
	}
	for range n {
		<-arrived
	}
	if s := u.Stats(); s.ConnsInUse != n || s.ConnsOpen != n {
		t.Errorf("Stats() with %d requests in flight = %+v, want %d conns open and in use", n, s, n)
	}
	start := time.Now()
	resp := upstreamtest.Dial(t, front.Addr().String()).Do(t, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
	elapsed := time.Since(start)
	if resp.StatusCode() != 503 || elapsed < wait || elapsed > wait+time.Second {
		t.Errorf("request %d: status %d after %v, want 503 after about %v", n+1, resp.StatusCode(), elapsed, wait)
	}
	if s := u.Stats(); s.PoolTimeouts != 1 {
		t.Errorf("Stats().PoolTimeouts = %d, want 1", s.PoolTimeouts)
	}

	// A waiter is served as soon as a connection comes back.
	waiter := make(chan int, 1)
	rc := upstreamtest.Dial(t, front.Addr().String())
	go func() { waiter <- rc.Do(t, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n").StatusCode() }()
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("slow request status = %d, want 200", c)
		}
	}
	if c := <-waiter; c != 200 {
		t.Errorf("waiting request status = %d, want 200", c)
	}
	if got := up.Accepts(); got != n {
		t.Errorf("upstream accepts = %d, want %d (the cap)", got, n)
	}
}

// TestServeUpstreamFailures: refused, reset, garbage and early close are 502 with a
// short text body, and nothing is retried into a second hit except a stale connection.
func TestServeUpstreamFailures(t *testing.T) {
	refused := upstreamtest.Listen(t)
	refusedAddr := refused.Addr().String()
	_ = refused.Close()

	var garbageHits, resetHits atomic.Int64
	garbage := startRawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRawRequest(br); err == nil {
			garbageHits.Add(1)
			_, _ = io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n\r\n")
		}
	})
	reset := startRawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRawRequest(br); err == nil {
			resetHits.Add(1)
			_ = c.(*net.TCPConn).SetLinger(0) // close with RST
		}
	})
	for _, tc := range []struct {
		name, addr string
		hits       *atomic.Int64
	}{
		{"refused", refusedAddr, nil},
		{"garbage", garbage.Addr().String(), &garbageHits},
		{"reset after request", reset.Addr().String(), &resetHits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, tc.addr, Options{})
			front := startFront(t, u, 0)
			// POST: not idempotent, so a reset must not be retried.
			resp := upstreamtest.Dial(t, front.Addr().String()).Do(t, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx")
			if resp.StatusCode() != 502 || string(resp.Body()) != "Bad Gateway\n" {
				t.Errorf("status %d body %q, want 502 %q", resp.StatusCode(), resp.Body(), "Bad Gateway\n")
			}
			if tc.hits != nil && tc.hits.Load() != 1 {
				t.Errorf("upstream hit %d times, want 1", tc.hits.Load())
			}
		})
	}
}

// TestServeRetriesStaleConnection: an upstream that closes a keep-alive connection after
// one answer (without saying so) makes the pooled connection stale; an idempotent request
// on it is retried on a fresh connection, a POST is not.
func TestServeRetriesStaleConnection(t *testing.T) {
	var hits atomic.Int64
	up := startRawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRawRequest(br); err != nil {
			return
		}
		hits.Add(1)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		// returning closes the connection, silently
	})
	u := newUpstream(t, up.Addr().String(), Options{})
	front := startFront(t, u, 0)
	rc := upstreamtest.Dial(t, front.Addr().String())
	for i := range 3 {
		resp := rc.Do(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode() != 200 {
			t.Fatalf("GET %d: status %d, want 200 (stale connection retried)", i, resp.StatusCode())
		}
	}
	if s := u.Stats(); s.Retries < 1 {
		t.Errorf("Stats().Retries = %d, want >= 1", s.Retries)
	}
	// Wait until the upstream has certainly closed the pooled connection: it does so
	// right after answering, and the proxy sees that as soon as it reads the socket.
	hitsBefore := hits.Load()
	resp := rc.Do(t, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx")
	if resp.StatusCode() != 502 {
		t.Errorf("POST on a stale connection: status %d, want 502 (not retried)", resp.StatusCode())
	}
	if got := hits.Load() - hitsBefore; got != 0 {
		t.Errorf("POST reached the upstream %d times, want 0", got)
	}
}

// pattern is one period of the generated body (byte i is i mod 251), repeated so reads
// and checks run over whole slices.
var pattern = func() []byte {
	b := make([]byte, 251*1024)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}()

// patternReader generates size bytes of the pattern without storing them.
type patternReader struct{ off, size int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	start := int(r.off % 251)
	p = p[:min(int64(len(p)), r.size-r.off, int64(len(pattern)-start))]
	n := copy(p, pattern[start:])
	r.off += int64(n)
	return n, nil
}

// patternChecker verifies bytes against the pattern as they arrive.
type patternChecker struct {
	off int64
	bad bool
}

func (w *patternChecker) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		start := int(w.off % 251)
		n := min(len(rest), len(pattern)-start)
		if !bytes.Equal(rest[:n], pattern[start:start+n]) {
			w.bad = true
		}
		rest, w.off = rest[n:], w.off+int64(n)
	}
	return len(p), nil
}

// TestServeStreamsLargeBodies pins trap 8: 128 MiB, chunked and with Content-Length,
// pass through with bounded memory, and the first bytes reach the client before the
// upstream has produced the rest.
func TestServeStreamsLargeBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 256 MiB")
	}
	const size = 128 << 20
	firstSeen := make(chan struct{}, 1)
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/octet-stream")
		chunked := string(ctx.Path()) == "/chunked"
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			r := &patternReader{size: size}
			if _, err := io.CopyN(w, r, 1<<20); err != nil {
				return
			}
			_ = w.Flush()
			// Streaming, not buffering: the client must see bytes before the rest exists.
			select {
			case <-firstSeen:
			case <-time.After(10 * time.Second):
				return
			}
			_, _ = io.Copy(w, r)
		})
		if !chunked {
			// A known length, still produced lazily.
			ctx.Response.SetBodyStream(&gatedReader{r: &patternReader{size: size}, gate: firstSeen}, size)
		}
	})
	u := newUpstream(t, up.Addr().String(), Options{})
	front := startFront(t, u, 0)
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}}
	defer client.CloseIdleConnections()
	for _, path := range []string{"/chunked", "/length"} {
		t.Run(path, func(t *testing.T) {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			allocBefore := ms.TotalAlloc
			resp, err := client.Get("http://" + front.Addr().String() + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			head := make([]byte, 64<<10)
			if _, err := io.ReadFull(resp.Body, head); err != nil {
				t.Fatalf("first bytes: %v", err)
			}
			firstSeen <- struct{}{}
			chk := &patternChecker{}
			_, _ = chk.Write(head)
			buf := make([]byte, 256<<10)
			if _, err := io.CopyBuffer(chk, resp.Body, buf); err != nil {
				t.Fatalf("body: %v after %d bytes", err, chk.off)
			}
			runtime.ReadMemStats(&ms)
			if chk.off != size || chk.bad {
				t.Errorf("body: %d bytes, mismatch %v; want %d exact bytes", chk.off, chk.bad, size)
			}
			if path == "/length" && resp.ContentLength != size {
				t.Errorf("Content-Length = %d, want %d", resp.ContentLength, size)
			}
			alloc := ms.TotalAlloc - allocBefore
			t.Logf("moved %d MiB with %d KiB allocated in the whole process", size>>20, alloc>>10)
			if alloc > 8<<20 && !raceEnabled {
				t.Errorf("allocated %d MiB to move %d MiB, want < 8 MiB", alloc>>20, size>>20)
			}
		})
	}
}

// gatedReader produces its first MiB, then waits for gate before producing the rest.
type gatedReader struct {
	r      *patternReader
	gate   chan struct{}
	passed bool
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if !g.passed && g.r.off >= 1<<20 {
		select {
		case <-g.gate:
		case <-time.After(10 * time.Second):
			return 0, errors.New("client never saw the first bytes")
		}
		g.passed = true
	}
	if !g.passed {
		p = p[:min(len(p), 1<<20-int(g.r.off))]
	}
	return g.r.Read(p)
}

func TestServeMaxResponseBody(t *testing.T) {
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		n, _ := strconv.Atoi(string(ctx.QueryArgs().Peek("n")))
		body := bytes.Repeat([]byte("b"), n)
		if ctx.QueryArgs().Has("chunked") {
			ctx.SetBodyStream(bytes.NewReader(body), -1)
			return
		}
		ctx.SetBody(body)
	})
	u := newUpstream(t, up.Addr().String(), Options{MaxResponseBody: 100 << 10})
	front := startFront(t, u, 0)
	for _, tc := range []struct {
		name, target string
		wantStatus   int
		wantLen      int
		wantErr      bool
	}{
		{"under cap", "/?n=1000", 200, 1000, false},
		{"at cap", "/?n=102400", 200, 102400, false},
		{"length over cap", "/?n=102401", 502, len("Bad Gateway\n"), false},
		{"chunked under cap", "/?n=102400&chunked", 200, 102400, false},
		{"chunked over cap", "/?n=300000&chunked", 200, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := upstreamtest.Dial(t, front.Addr().String())
			if _, err := io.WriteString(rc.Conn, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp := &fasthttp.Response{}
			err := resp.Read(rc.R)
			if tc.wantErr {
				if err == nil {
					t.Errorf("GET %s: read a complete %d-byte body, want it cut", tc.target, len(resp.Body()))
				}
				return
			}
			if err != nil || resp.StatusCode() != tc.wantStatus || len(resp.Body()) != tc.wantLen {
				t.Errorf("GET %s = %d, %d bytes, %v; want %d, %d bytes", tc.target, resp.StatusCode(),
					len(resp.Body()), err, tc.wantStatus, tc.wantLen)
			}
		})
	}
}

// TestServeHTTP10Client: an HTTP/1.0 client (no keep-alive) is answered and its
// connection closed, while the upstream is spoken to in HTTP/1.1 over one pooled
// connection.
func TestServeHTTP10Client(t *testing.T) {
	protos := make(chan string, 10)
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		protos <- string(ctx.Request.Header.Protocol())
		ctx.WriteString("ok")
	})
	u := newUpstream(t, up.Addr().String(), Options{})
	front := startFront(t, u, 0)
	for i := range 5 {
		rc := upstreamtest.Dial(t, front.Addr().String())
		resp := rc.Do(t, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
		if resp.StatusCode() != 200 || string(resp.Body()) != "ok" {
			t.Fatalf("request %d: %d %q, want 200 ok", i, resp.StatusCode(), resp.Body())
		}
		if p := <-protos; p != "HTTP/1.1" {
			t.Errorf("upstream spoke %q, want HTTP/1.1", p)
		}
		if !rc.ClosedByPeer(time.Second) {
			t.Errorf("request %d: HTTP/1.0 client connection left open", i)
		}
	}
	if got := up.Accepts(); got != 1 {
		t.Errorf("upstream accepts = %d, want 1", got)
	}
}

// probeConn is a net.Conn whose Read records, in ran, whether the goroutine the test
// started just before that read had run by the time the proxy asked for the response.
type probeConn struct {
	net.Conn
	started *atomic.Bool
	ran     []bool
}

func (c *probeConn) Write(p []byte) (int, error)     { return len(p), nil }
func (c *probeConn) SetReadDeadline(time.Time) error { return nil }
func (c *probeConn) Read(p []byte) (int, error) {
	c.ran = append(c.ran, c.started.Load())
	return copy(p, "x"), nil
}

// TestDeadlineConnYieldsBeforeFirstRead pins the yield that saves a read syscall per
// request (docs/performance.md, "Legacy proxy vs nginx"): the first Read after a
// request is written lets other runnable goroutines go first; later reads of the same
// response do not; the next request's first read yields again.
func TestDeadlineConnYieldsBeforeFirstRead(t *testing.T) {
	// One P makes "has the other goroutine run?" a question of who yields.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var open atomic.Int64
	for _, tc := range []struct {
		name  string
		reads int
		want  []bool
	}{
		{"one read", 1, []bool{true}},
		{"body reads do not yield again", 3, []bool{true, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probe := &probeConn{}
			c := &deadlineConn{Conn: probe, responseTimeout: time.Second, idleTimeout: time.Second, open: &open}
			for req := range 2 {
				probe.ran = nil
				if _, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				buf := make([]byte, 1)
				for range tc.reads {
					started := new(atomic.Bool)
					probe.started = started
					wg.Go(func() { started.Store(true) })
					if _, err := c.Read(buf); err != nil {
						t.Fatal(err)
					}
				}
				wg.Wait()
				if fmt.Sprint(probe.ran) != fmt.Sprint(tc.want) {
					t.Errorf("request %d: a goroutine started before each read had run: %v, want %v", req, probe.ran, tc.want)
				}
			}
		})
	}
}
