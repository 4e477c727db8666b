package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/edged/edged/events"
)

// The daemon's tests share these helpers: each test states only what its
// router.toml adds to the common prelude and how it talks to the daemon.

// helloWasm is the C hello guest built by examples/build-guests.sh.
func helloWasm(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "examples", "guests", "hello-c", "hello-c.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// testdataWasm returns the absolute path of isolate/testdata/name.wasm.
func testdataWasm(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "isolate", "testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freeAddrs returns n loopback addresses free at the time of the call.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ln.Addr().String())
		ln.Close()
	}
	return out
}

// legacyServer starts an upstream answering "legacy" to everything, closed
// when the test ends, and returns its URL.
func legacyServer(t testing.TB) string {
	t.Helper()
	mono := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "legacy") }))
	t.Cleanup(mono.Close)
	return mono.URL
}

// routerTOML is a test's router.toml: the prelude every test shares (both
// listeners on loopback, ports picked by the kernel, no drain delay, the
// admin token in "admin.token", cache and state beside the file) and the few
// parts tests vary.
type routerTOML struct {
	// Listen and AdminListen are [server] and [admin] listen; empty is
	// "127.0.0.1:0".
	Listen, AdminListen string
	// Runtime holds keys added to [runtime].
	Runtime string
	// Events holds the keys of [events]; empty leaves the table out.
	Events string
	// Node is [fleet] node with state = "nats"; empty leaves [fleet] out.
	Node string
	// Body is the rest (upstreams, secrets, functions, triggers, routes). It
	// must open with a table header: bare keys would join the prelude's last
	// table.
	Body string
}

// String renders the file.
func (c routerTOML) String() string {
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	var s strings.Builder
	fmt.Fprintf(&s, "\n[server]\nlisten = %q\ndrain_delay = \"0s\"\n", or(c.Listen, "127.0.0.1:0"))
	fmt.Fprintf(&s, "\n[admin]\nlisten = %q\ntoken_file = \"admin.token\"\n", or(c.AdminListen, "127.0.0.1:0"))
	fmt.Fprintf(&s, "\n[runtime]\ncache_dir = \"cache\"\nstate_dir = \"state\"\n%s", c.Runtime)
	if c.Events != "" {
		fmt.Fprintf(&s, "\n[events]\n%s\n", strings.TrimSuffix(c.Events, "\n"))
	}
	if c.Node != "" {
		fmt.Fprintf(&s, "\n[fleet]\nstate = \"nats\"\nnode = %q\n", c.Node)
	}
	s.WriteString(c.Body)
	return s.String()
}

// helloTOML has one function on /hello and, with fresh, a second function on
// /new.
func helloTOML(wasm string, fresh bool) routerTOML {
	body := fmt.Sprintf(`
[functions.hello]
module = %[1]q

[[routes]]
name = "hello"
path = "/hello"
stage = "retired"
function = "hello"
`, wasm)
	if fresh {
		body += fmt.Sprintf(`
[functions.fresh]
module = %[1]q

[[routes]]
name = "new"
path = "/new"
stage = "retired"
function = "fresh"
`, wasm)
	}
	return routerTOML{Body: body}
}

// testConfig returns a configuration on loopback ports with one function on
// /hello and, with fresh, a second function on /new. Paths are relative to dir.
func testConfig(wasm string, fresh bool) string {
	return helloTOML(wasm, fresh).String()
}

// fleetTOML is a node of a fleet: route "users" (legacy, with the C hello
// guest as its function) and [fleet] state = "nats" named node. With listen
// the node's embedded NATS server opens that address; else the node joins
// url.
func fleetTOML(t testing.TB, node, listen, url, upstream string) routerTOML {
	events := fmt.Sprintf("store_dir = \"events\"\nsync = \"interval\"\nlisten = %q", listen)
	if url != "" {
		events = fmt.Sprintf("url = %q", url)
	}
	return routerTOML{Events: events, Node: node, Body: fmt.Sprintf(`
[upstreams.mono]
url = %q

[functions.hello]
module = %q

[[routes]]
name = "users"
path = "/users"
stage = "legacy"
upstream = "mono"
function = "hello"
`, upstream, helloWasm(t))}
}

// fleetConfig is fleetTOML rendered.
func fleetConfig(t *testing.T, node, listen, url, upstream string) string {
	return fleetTOML(t, node, listen, url, upstream).String()
}

// leadConfig is a fleet node joining the NATS server at url: route "users"
// (upstream mono, function fn) with a migration plan starting at the canary,
// sticky on the X-User header, and extra appended to the route.
func leadConfig(t *testing.T, node, url, upstream, fn, plan, extra string) string {
	return routerTOML{Events: fmt.Sprintf("url = %q", url), Node: node, Body: fmt.Sprintf(`
[upstreams.mono]
url = %q

[functions.fn]
module = %q

[[routes]]
name = "users"
path = "/users"
stage = "legacy"
upstream = "mono"
function = "fn"
sticky = "header:X-User"
fallback = false
%s
[routes.migration]
start = "canary"
%s
`, upstream, fn, extra, plan)}.String()
}

// writeConfig writes cfg as router.toml, and the admin token "token", to a
// fresh directory, and returns the file's path.
func writeConfig(t testing.TB, cfg string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "router.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serve runs d until the returned function (or the test's cleanup) cancels
// ctx, and checks that Serve then returns nil. The function stops at most once
// and may be called from any goroutine.
func serve(t testing.TB, ctx context.Context, cancel context.CancelFunc, d *Daemon) func() {
	served := make(chan error, 1)
	go func() { served <- d.Serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-served; err != nil {
				t.Errorf("Serve() = %v, want nil after cancel", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// startDaemon writes cfg to dir, starts a Daemon on it and serves until the
// test ends. It returns the daemon and the path of its configuration.
func startDaemon(t testing.TB, cfg string) (*Daemon, string) {
	t.Helper()
	d, path, _ := serveDaemon(t, cfg)
	return d, path
}

// startStoppable starts a daemon like startDaemon and returns a function that
// stops it (at most once; the test's cleanup stops it too).
func startStoppable(t *testing.T, cfg string) (*Daemon, func()) {
	t.Helper()
	d, _, stop := serveDaemon(t, cfg)
	return d, stop
}

// serveDaemon is startDaemon that also returns a function stopping the daemon
// (at most once; the test's cleanup stops it too).
func serveDaemon(t testing.TB, cfg string) (*Daemon, string, func()) {
	t.Helper()
	path := writeConfig(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, Options{ConfigPath: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return d, path, serve(t, ctx, cancel, d)
}

// natsServer starts a standalone NATS server on loopback, outside every
// daemon, so that any daemon can be stopped.
func natsServer(t *testing.T) string {
	t.Helper()
	addr := freeAddrs(t, 1)[0]
	srv, err := events.Open(context.Background(), events.Options{StoreDir: t.TempDir(), Listen: addr, Sync: events.SyncInterval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	return "nats://" + addr
}

// adminDo sends an admin request with the tests' token and returns the
// answer's status and body.
func adminDo(t *testing.T, d *Daemon, method, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, d.AdminURL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// adminCall sends an authenticated admin request and decodes the answer.
func adminCall(t *testing.T, d *Daemon, method, path string) (int, map[string]any) {
	t.Helper()
	code, b := adminDo(t, d, method, path)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return code, out
}

// adminPost POSTs to the admin API and returns the answer as text.
func adminPost(t *testing.T, d *Daemon, path string) (int, string) {
	t.Helper()
	code, b := adminDo(t, d, http.MethodPost, path)
	return code, string(b)
}

// scrape returns the admin API's /metrics.
func scrape(t *testing.T, d *Daemon) string {
	t.Helper()
	code, b := adminDo(t, d, http.MethodGet, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	return string(b)
}
