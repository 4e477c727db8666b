package admin

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/router"
	"github.com/edged/edged/strangler"
)

// guestHelloC is a real guest, relative to the package directory.
const guestHelloC = "../examples/guests/hello-c/hello-c.wasm"

// loadHello loads guestHelloC as "hello" on a runtime of its own; both
// close with the test.
func loadHello(t testing.TB, o isolate.FunctionOptions) *isolate.Function {
	t.Helper()
	ctx := context.Background()
	rt, err := isolate.NewRuntime(ctx, isolate.RuntimeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(ctx) })
	o.Name = "hello"
	f, err := rt.Load(ctx, isolate.Source{Path: guestHelloC}, o)
	if err != nil {
		t.Fatalf("load %s: %v", guestHelloC, err)
	}
	t.Cleanup(func() { _ = f.Close(ctx) })
	return f
}

// edge is a router.Server under test, serving on loopback TCP.
type edge struct {
	srv   *router.Server
	table *strangler.Table
	world *router.World
	addr  string
}

// startEdge serves routes (with no migration step) and w on loopback until
// the test ends.
func startEdge(t testing.TB, routes []strangler.Route, w *router.World) *edge {
	t.Helper()
	for i := range routes {
		routes[i].Step = -1
	}
	table, err := strangler.NewTable(routes)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := router.NewServer(router.Config{Table: table}, w)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
	return &edge{srv: srv, table: table, world: w, addr: ln.Addr().String()}
}

type reply struct {
	status int
	header http.Header
	body   string
}

var testClient = &http.Client{Timeout: 20 * time.Second}

// send makes one request to a loopback server and reads the whole answer.
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
