// Package upstreamtest starts the upstreams the proxy and router tests talk
// to, on loopback: a fasthttp server keeping header case as sent, the example
// monolith as a real process, and a raw HTTP/1.1 client that controls every
// byte it sends. It is for tests only; the packages whose tests use it share
// one copy of these helpers instead of one each.
package upstreamtest

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Listener counts accepted connections, to tell pooled from churned ones.
type Listener struct {
	net.Listener
	accepts atomic.Int64
}

// Accept accepts and counts a connection.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepts.Add(1)
	}
	return c, err
}

// Accepts returns how many connections l has accepted.
func (l *Listener) Accepts() int64 { return l.accepts.Load() }

// Listen listens on a free loopback TCP port.
func Listen(t testing.TB) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &Listener{Listener: ln}
}

// Start serves h with fasthttp on loopback TCP, keeping header case as sent,
// until the test ends.
func Start(t testing.TB, h fasthttp.RequestHandler) *Listener {
	t.Helper()
	ln := Listen(t)
	s := &fasthttp.Server{Handler: h, DisableHeaderNamesNormalizing: true, StreamRequestBody: false,
		MaxRequestBodySize: 256 << 20}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	// Closing ln first also ends a Serve that had not started when Shutdown ran.
	t.Cleanup(func() { _ = ln.Close(); _ = s.Shutdown(); <-done })
	return ln
}

// monolith is the example monolith's binary, built once per test binary.
var monolith struct {
	once sync.Once
	path string
	err  error
}

// MonolithBinary builds examples/monolith once per test binary. The directory
// is left in os.TempDir for the life of the process; it is one small binary.
func MonolithBinary(t testing.TB) string {
	t.Helper()
	monolith.once.Do(func() {
		dir, err := os.MkdirTemp("", "edged-monolith-")
		if err != nil {
			monolith.err = err
			return
		}
		monolith.path = filepath.Join(dir, "monolith")
		out, err := exec.Command("go", "build", "-o", monolith.path, "github.com/edged/edged/examples/monolith").CombinedOutput()
		if err != nil {
			monolith.err = &exec.ExitError{Stderr: out}
		}
	})
	if monolith.err != nil {
		t.Fatalf("build monolith: %v", monolith.err)
	}
	return monolith.path
}

// StartMonolith runs the example monolith on a loopback port until the test
// ends and returns its address.
func StartMonolith(t testing.TB) string {
	t.Helper()
	cmd := exec.Command(MonolithBinary(t), "-listen", "127.0.0.1:0", "-quiet")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on http://")
	if err != nil || !ok {
		t.Fatalf("monolith said %q, %v", line, err)
	}
	return addr
}

// RawClient speaks HTTP/1.1 over one connection so tests control every byte
// sent and see header case and order as received.
type RawClient struct {
	// Conn is the connection, for tests that write or time it themselves.
	Conn net.Conn
	// R reads what the server sent on Conn.
	R *bufio.Reader
}

// Dial connects a RawClient to addr, closed when the test ends.
func Dial(t testing.TB, addr string) *RawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &RawClient{Conn: c, R: bufio.NewReader(c)}
}

// Do writes raw and reads one response, within 10 seconds.
func (rc *RawClient) Do(t testing.TB, raw string) *fasthttp.Response {
	t.Helper()
	_ = rc.Conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.Conn.Write([]byte(raw)); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp := &fasthttp.Response{}
	resp.Header.DisableNormalizing()
	if err := resp.Read(rc.R); err != nil {
		t.Fatalf("read response to %q: %v", raw, err)
	}
	return resp
}

// ClosedByPeer reports whether the server closed the connection (EOF within
// wait).
func (rc *RawClient) ClosedByPeer(wait time.Duration) bool {
	_ = rc.Conn.SetReadDeadline(time.Now().Add(wait))
	_, err := rc.R.Peek(1)
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}
