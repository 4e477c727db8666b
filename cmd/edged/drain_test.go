package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDrainDelay runs `edged serve` with a drain_delay and sends it SIGTERM: /readyz
// turns 503 at once while the public listener keeps serving, on new connections
// and on a keep-alive connection opened before the signal, so a load balancer
// sees the 503 before any connection is refused. A second SIGTERM ends the delay
// and the daemon drains and exits 0. (Before drain_delay, SIGTERM closed the
// listener and idle keep-alive connections at once.)
func TestDrainDelay(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	_, monoURL := startMonolithProc(t, b)
	cfg := daemonTOML(b, `drain_delay = "5m"`) + fmt.Sprintf(`
[upstreams.monolith]
url = %q

[functions.fast]
module = %q
fresh = true

[[routes]]
name = "fast"
path = "/fast"
stage = "retired"
function = "fast"

[[routes]]
name = "root"
path = "/"
stage = "legacy"
upstream = "monolith"
`, monoURL, repoPath(t, "examples/guests/hello-c/hello-c.wasm"))
	cfgPath := writeFile(t, dir, "router.toml", cfg, 0o644)
	writeFile(t, dir, "admin.token", "admin-token-for-tests\n", 0o600)
	e := startEdged(t, b, nil, "serve", "-config", cfgPath)

	// One keep-alive connection, opened before the signal.
	keep := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer keep.CloseIdleConnections()
	getOn := func(c *http.Client, path string) (code int, body string, reused bool, err error) {
		req, err := http.NewRequest(http.MethodGet, e.public+path, nil)
		if err != nil {
			return 0, "", false, err
		}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
		}))
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", reused, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), reused, err
	}
	if code, _, _, err := getOn(keep, "/healthz"); err != nil || code != 200 {
		t.Fatalf("GET /healthz before SIGTERM = %d, %v; want 200", code, err)
	}

	e.signal(t, syscall.SIGTERM)
	// Bounded poll: readyz turns 503 once the daemon has handled the signal.
	ready := 200
	for i := 0; i < 200 && ready == 200; i++ {
		resp, err := http.Get(e.admin + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz after SIGTERM: %v; want 503 from a daemon still up", err)
		}
		resp.Body.Close()
		ready = resp.StatusCode
		if ready == 200 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if ready != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz after SIGTERM = %d, want 503", ready)
	}

	for _, tc := range []struct {
		name     string
		client   *http.Client
		path     string
		want     string
		wantKeep bool
	}{
		{"keep-alive connection, legacy", keep, "/healthz", "ok", true},
		{"keep-alive connection, isolate", keep, "/fast", "Hello from C", true},
		{"new connection", &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}, "/api/users", "generated_at", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, reused, err := getOn(tc.client, tc.path)
			if err != nil || code != 200 || !strings.Contains(body, tc.want) {
				t.Errorf("GET %s during drain_delay = %d %q, %v; want 200 with %q", tc.path, code, body, err, tc.want)
			}
			if tc.wantKeep && !reused {
				t.Errorf("GET %s during drain_delay did not reuse the keep-alive connection", tc.path)
			}
		})
	}

	e.signal(t, syscall.SIGTERM) // the second signal ends the delay
	if code := e.wait(t); code != 0 {
		t.Errorf("edged exit code after two SIGTERMs = %d, want 0; stderr:\n%s", code, e.stderr)
	}
}
