package router

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
	"github.com/prometheus/client_golang/prometheus"
)

// Shared by every test in the binary: one isolate Runtime whose compilation cache keeps
// the Go guests from being compiled per test. The example monolith comes from
// startMonolith in proxy_monolith_test.go.
var shared struct {
	dir string

	rtOnce sync.Once
	rt     *isolate.Runtime
	rtErr  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edged-router-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	shared.dir = dir
	code := m.Run()
	if shared.rt != nil {
		_ = shared.rt.Close(context.Background())
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func testRuntime(t testing.TB) *isolate.Runtime {
	t.Helper()
	shared.rtOnce.Do(func() {
		shared.rt, shared.rtErr = isolate.NewRuntime(context.Background(),
			isolate.RuntimeOptions{CacheDir: filepath.Join(shared.dir, "cache")})
	})
	if shared.rtErr != nil {
		t.Fatal(shared.rtErr)
	}
	return shared.rt
}

// Guests used by the tests, relative to the package directory.
const (
	guestHelloC      = "../examples/guests/hello-c/hello-c.wasm"
	guestJSONAPI     = "../examples/guests/jsonapi/jsonapi.wasm"
	guestAuthMW      = "../examples/guests/authmw/authmw.wasm"
	guestTrap        = "../isolate/testdata/trap.wasm"
	guestLoop        = "../isolate/testdata/loop.wasm"
	guestNext        = "../isolate/testdata/next.wasm"
	guestConformance = "../isolate/testdata/conformance.wasm"
)

func loadFunction(t testing.TB, path string, o isolate.FunctionOptions) *isolate.Function {
	t.Helper()
	if o.Name == "" {
		o.Name = strings.TrimSuffix(filepath.Base(path), ".wasm")
	}
	f, err := testRuntime(t).Load(context.Background(), isolate.Source{Path: path}, o)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	return f
}

// edge is a Server under test, serving on loopback TCP.
type edge struct {
	srv   *Server
	table *strangler.Table
	reg   *prometheus.Registry
	addr  string
	// mirrored receives the route name of every finished shadow comparison.
	mirrored chan string
}

func startEdge(t testing.TB, routes []strangler.Route, w *World) *edge {
	t.Helper()
	return startEdgeConfig(t, routes, w, Config{})
}

// startEdgeConfig is startEdge with Config's other fields (the table is made here).
func startEdgeConfig(t testing.TB, routes []strangler.Route, w *World, c Config) *edge {
	t.Helper()
	for i := range routes {
		if routes[i].Step == 0 {
			routes[i].Step = -1
		}
	}
	table, err := strangler.NewTable(routes)
	if err != nil {
		t.Fatal(err)
	}
	c.Table = table
	srv, err := NewServer(c, w)
	if err != nil {
		t.Fatal(err)
	}
	e := &edge{srv: srv, table: table, reg: srv.reg, mirrored: make(chan string, 1024)}
	srv.onMirror = func(route string) { e.mirrored <- route }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	})
	return e
}

// waitMirror waits for n shadow comparisons to finish.
func (e *edge) waitMirror(t testing.TB, n int) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for range n {
		select {
		case <-e.mirrored:
		case <-timeout:
			t.Fatalf("shadow comparison did not finish")
		}
	}
}

func upstreamFor(t testing.TB, addr string) *proxy.Upstream {
	t.Helper()
	u, err := proxy.New("monolith", proxy.Options{URL: "http://" + addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}

type reply struct {
	status int
	header http.Header
	body   string
}

var testClient = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func send(t testing.TB, method, url string, hdr map[string]string, body string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}
