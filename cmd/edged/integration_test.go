package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/edged/edged/admin"
)

const testAPIToken = "s3cret-api-token"

// testConfig is the router.toml of the serve tests. %[1]s is the upstream URL, %[2]s
// the compilation cache, and the rest are absolute module paths. helloStage lets a
// test rewrite the file for a reload.
func testConfig(t *testing.T, b *binaries, upstream, helloStage string) string {
	t.Helper()
	return daemonTOML(b, `shutdown_timeout = "20s"`) + fmt.Sprintf(`

[upstreams.monolith]
url = %[1]q

[functions.hello]
module = %[2]q
min_instances = 1

[functions.fast]
module = %[3]q
fresh = true
memory = "1MiB"

[functions.auth]
module = %[4]q
secrets = ["api_token"]

[functions.users]
module = %[5]q

[functions.trap]
module = %[6]q

[secrets.api_token]
env = "EDGED_TEST_API_TOKEN"

[[routes]]
name = "hello"
path = "/hello"
stage = %[7]q
function = "hello"
upstream = "monolith"

[[routes]]
name = "fast"
path = "/fast"
stage = "retired"
function = "fast"

[[routes]]
name = "account"
path = "/account"
stage = "isolate"
function = "auth"
upstream = "monolith"
fallback = false

[[routes]]
name = "users"
path = "/api/users"
methods = ["GET", "HEAD"]
stage = "legacy"
function = "users"
upstream = "monolith"

[[routes]]
name = "trap"
path = "/trap"
stage = "retired"
function = "trap"

[[routes]]
name = "root"
path = "/"
stage = "legacy"
upstream = "monolith"
`, upstream,
		repoPath(t, "examples/guests/hello/hello.wasm"),
		repoPath(t, "examples/guests/hello-c/hello-c.wasm"),
		repoPath(t, "examples/guests/authmw/authmw.wasm"),
		repoPath(t, "examples/guests/jsonapi/jsonapi.wasm"),
		repoPath(t, "isolate/testdata/trap.wasm"),
		helloStage)
}

// writeFile writes data to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, data string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServe drives one `edged serve` through its life: requests to every kind of
// route, the admin API and CLI, reloads by SIGHUP, and a draining SIGTERM.
func TestServe(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	_, monoURL := startMonolithProc(t, b)
	obs := startObserver(t, monoURL, "/slow")
	cfgPath := writeFile(t, dir, "router.toml", testConfig(t, b, obs.url, "isolate"), 0o644)
	tokenFile := writeFile(t, dir, "admin.token", "admin-token-for-tests\n", 0o600)
	e := startEdged(t, b, []string{"EDGED_TEST_API_TOKEN=" + testAPIToken}, "serve", "-config", cfgPath)
	auth := func() []string { return []string{"Authorization", "Bearer admin-token-for-tests"} }

	t.Run("requests", func(t *testing.T) {
		tests := []struct {
			name     string
			path     string
			hdr      []string
			wantCode int
			wantBody string // substring
			wantHdr  [2]string
		}{
			{name: "legacy", path: "/api/users", wantCode: 200, wantBody: `"generated_at"`},
			{name: "legacy fallthrough", path: "/healthz", wantCode: 200, wantBody: "ok"},
			{name: "isolate Go guest", path: "/hello", wantCode: 200, wantBody: "Hello from the isolate"},
			{name: "retired C guest", path: "/fast", wantCode: 200, wantBody: "Hello from C"},
			{name: "middleware without token", path: "/account", wantCode: 401, wantBody: "unauthorized"},
			{name: "middleware wrong token", path: "/account", hdr: []string{"Authorization", "Bearer nope"}, wantCode: 401},
			{name: "middleware with token", path: "/account", hdr: []string{"Authorization", "Bearer " + testAPIToken},
				wantCode: 200, wantBody: `"user":"demo"`, wantHdr: [2]string{"X-Auth", "edged"}},
			{name: "trapping guest", path: "/trap", wantCode: 502},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				code, hdr, body := get(t, e.public+tc.path, tc.hdr...)
				if code != tc.wantCode {
					t.Errorf("GET %s = %d, want %d (body %q)", tc.path, code, tc.wantCode, body)
				}
				if !strings.Contains(body, tc.wantBody) {
					t.Errorf("GET %s body = %q, want it to contain %q", tc.path, body, tc.wantBody)
				}
				if tc.wantHdr[0] != "" && hdr.Get(tc.wantHdr[0]) != tc.wantHdr[1] {
					t.Errorf("GET %s header %s = %q, want %q", tc.path, tc.wantHdr[0], hdr.Get(tc.wantHdr[0]), tc.wantHdr[1])
				}
			})
		}
	})

	t.Run("admin auth", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			hdr  []string
			want int
		}{
			{"no token", nil, 401},
			{"wrong token", []string{"Authorization", "Bearer wrong"}, 401},
			{"token", auth(), 200},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, hdr, body := get(t, e.admin+"/v1/routes", tc.hdr...)
				if code != tc.want {
					t.Fatalf("GET /v1/routes = %d, want %d (body %q)", code, tc.want, body)
				}
				if code == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q, want Bearer", hdr.Get("WWW-Authenticate"))
				}
			})
		}
		if code, _, _ := get(t, e.admin+"/healthz"); code != 200 {
			t.Errorf("GET /healthz = %d, want 200 without a token", code)
		}
		if code, _, body := get(t, e.admin+"/metrics"); code != 200 || !strings.Contains(body, "edged_requests_total") {
			t.Errorf("GET /metrics = %d, want 200 with edged_requests_total", code)
		}
	})

	adminArgs := []string{"-admin", e.admin, "-token-file", tokenFile}
	t.Run("cli promote", func(t *testing.T) {
		code, out, errOut := runEdged(t, b, append([]string{"promote", "users", "-reason", "integration test"}, adminArgs...)...)
		if code != 0 {
			t.Fatalf("edged promote users: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if got := routeStage(t, e, "users"); got != "shadow" {
			t.Errorf("stage of users after promote = %q, want shadow", got)
		}
		code, out, errOut = runEdged(t, b, append([]string{"status"}, adminArgs...)...)
		if code != 0 {
			t.Fatalf("edged status: exit %d, stderr %q", code, errOut)
		}
		for _, want := range []string{"users", "shadow", "/api/users", "hello", "isolate"} {
			if !strings.Contains(out, want) {
				t.Errorf("edged status output lacks %q:\n%s", want, out)
			}
		}
		code, _, errOut = runEdged(t, b, append([]string{"promote", "nosuchroute"}, adminArgs...)...)
		if code != 1 || !strings.Contains(errOut, "404") {
			t.Errorf("edged promote nosuchroute: exit %d, stderr %q; want exit 1 and a 404", code, errOut)
		}
		code, _, errOut = runEdged(t, b, "promote", "users", "-admin", e.admin, "-token-file", writeFile(t, dir, "bad.token", "bad", 0o600))
		if code != 1 || !strings.Contains(errOut, "401") {
			t.Errorf("edged promote with a bad token: exit %d, stderr %q; want exit 1 and a 401", code, errOut)
		}
		if got := routeStage(t, e, "users"); got != "shadow" {
			t.Errorf("stage of users after refused promote = %q, want shadow", got)
		}
	})

	t.Run("cli cost", func(t *testing.T) {
		code, out, errOut := runEdged(t, b, append([]string{"cost"}, adminArgs...)...)
		if code != 0 {
			t.Fatalf("edged cost: exit %d, stderr %q", code, errOut)
		}
		for _, want := range []string{"FUNCTION", "hello", "users", "prices:"} {
			if !strings.Contains(out, want) {
				t.Errorf("edged cost output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("sighup broken file keeps serving", func(t *testing.T) {
		from := e.stderr.len()
		writeFile(t, dir, "router.toml", "[server]\nlisten = 12\n[[routes]]\nname = \n", 0o644)
		e.signal(t, syscall.SIGHUP)
		e.stderr.wait(t, from, "reload: invalid configuration")
		if code, _, body := get(t, e.public+"/hello"); code != 200 || !strings.Contains(body, "isolate") {
			t.Errorf("GET /hello after a broken reload = %d %q, want 200 from the isolate", code, body)
		}
	})

	t.Run("sighup changed file applies", func(t *testing.T) {
		from := e.stderr.len()
		writeFile(t, dir, "router.toml", testConfig(t, b, obs.url, "legacy"), 0o644)
		e.signal(t, syscall.SIGHUP)
		e.stderr.wait(t, from, "msg=reloaded")
		if code, _, body := get(t, e.public+"/hello"); code != 200 || !strings.Contains(body, "monolith") {
			t.Errorf("GET /hello after reload to legacy = %d %q, want 200 from the monolith", code, body)
		}
		// users' definition did not change, so its promoted stage survives the reload.
		if got := routeStage(t, e, "users"); got != "shadow" {
			t.Errorf("stage of users after reload = %q, want shadow (kept)", got)
		}
		code, out, errOut := runEdged(t, b, append([]string{"reload"}, adminArgs...)...)
		if code != 0 || !strings.Contains(out, "reloaded") {
			t.Errorf("edged reload: exit %d, stdout %q, stderr %q; want 0 and reloaded", code, out, errOut)
		}
	})

	t.Run("sigterm drains", func(t *testing.T) {
		type result struct {
			code int
			body string
			err  error
		}
		res := make(chan result, 1)
		var wg sync.WaitGroup
		wg.Go(func() {
			resp, err := http.Get(e.public + "/slow?ms=500")
			if err != nil {
				res <- result{err: err}
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			res <- result{code: resp.StatusCode, body: string(body), err: err}
		})
		<-obs.arrived // the request is in flight at the monolith
		e.signal(t, syscall.SIGTERM)
		wg.Wait()
		r := <-res
		if r.err != nil || r.code != 200 || !strings.Contains(r.body, "slept_ms") {
			t.Errorf("in-flight GET /slow?ms=500 during SIGTERM = %d %q (err %v), want 200", r.code, r.body, r.err)
		}
		if code := e.wait(t); code != 0 {
			t.Errorf("edged exit code after SIGTERM = %d, want 0; stderr:\n%s", code, e.stderr)
		}
		if _, err := net.Dial("tcp", strings.TrimPrefix(e.public, "http://")); err == nil {
			t.Errorf("edged still accepts connections after exiting")
		}
	})
}

// routeStage asks the admin API for a route's stage.
func routeStage(t *testing.T, e *edgedProc, name string) string {
	t.Helper()
	code, _, body := get(t, e.admin+"/v1/routes/"+name, "Authorization", "Bearer admin-token-for-tests")
	if code != 200 {
		t.Fatalf("GET /v1/routes/%s = %d %q", name, code, body)
	}
	var r admin.RouteDetail
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("GET /v1/routes/%s: %v in %q", name, err, body)
	}
	return r.Route.Stage
}

// TestValidate runs `edged validate` on a good and a bad file.
func TestValidate(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	good := writeFile(t, dir, "good.toml", testConfig(t, b, "http://127.0.0.1:9", "isolate"), 0o644)
	bad := writeFile(t, dir, "bad.toml", `
[server]
listen = "nope"
[admin]
token_file = "t"
[upstreams.a]
url = "ftp://x"
[[routes]]
name = "r"
path = "relative"
stage = "sideways"
upstream = "missing"
`, 0o644)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string // substrings of stdout
		wantErr  []string // substrings of stderr
	}{
		{name: "valid", args: []string{"-config", good}, wantCode: 0, wantOut: []string{"ok"}},
		{name: "invalid", args: []string{"-config", bad}, wantCode: 1,
			wantErr: []string{"server.listen", "upstreams.a.url", "routes[0].path", "routes[0].stage", "routes[0].upstream"}},
		{name: "missing file", args: []string{"-config", filepath.Join(dir, "nope.toml")}, wantCode: 1, wantErr: []string{"nope.toml"}},
		{name: "no flag", args: nil, wantCode: 2, wantErr: []string{"-config is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runEdged(t, b, append([]string{"validate"}, tc.args...)...)
			if code != tc.wantCode {
				t.Errorf("edged validate %v: exit %d, want %d; stderr:\n%s", tc.args, code, tc.wantCode, errOut)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("edged validate %v: stdout %q lacks %q", tc.args, out, w)
				}
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("edged validate %v: stderr lacks %q:\n%s", tc.args, w, errOut)
				}
			}
		})
	}
}

// TestDev runs `edged dev` on a copy of the quick start's layout with free ports: it
// builds and starts the monolith, creates the admin token, and serves.
func TestDev(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	monoAddr := freeAddr(t)
	cfg := fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
token_file = ".edged/admin.token"
[runtime]
cache_dir = %q
state_dir = ".edged/state"
[upstreams.monolith]
url = "http://%s"
[functions.hello]
module = %q
[[routes]]
name = "hello"
path = "/hello"
stage = "isolate"
function = "hello"
upstream = "monolith"
[[routes]]
name = "root"
path = "/"
stage = "legacy"
upstream = "monolith"
`, b.cache, monoAddr, repoPath(t, "examples/guests/hello/hello.wasm"))
	cfgPath := writeFile(t, dir, "router.toml", cfg, 0o644)

	p := start(t, nil, b.edged, "dev", "-config", cfgPath)
	p.stdout.wait(t, 0, "edged dev: serving")
	pub, _ := p.stdout.wait(t, 0, "  edged ")
	public := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(pub), "edged"))
	p.stdout.wait(t, 0, "Ctrl-C")

	if code, _, body := get(t, public+"/hello"); code != 200 || !strings.Contains(body, "Hello from the isolate") {
		t.Errorf("GET /hello = %d %q, want 200 from the isolate", code, body)
	}
	if code, _, body := get(t, public+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("GET /healthz (legacy, the monolith dev started) = %d %q, want 200 ok", code, body)
	}
	info, err := os.Stat(filepath.Join(dir, ".edged", "admin.token"))
	if err != nil {
		t.Fatalf("admin token not created: %v", err)
	}
	if info.Mode().Perm() != 0o600 || info.Size() != 65 {
		t.Errorf("admin token: mode %v size %d, want 0600 and 64 hex digits + newline", info.Mode().Perm(), info.Size())
	}

	p.signal(t, os.Interrupt)
	if code := p.wait(t); code != 0 {
		t.Errorf("edged dev exit code after Ctrl-C = %d, want 0; stderr:\n%s", code, p.stderr)
	}
	if c, err := net.Dial("tcp", monoAddr); err == nil {
		c.Close()
		t.Errorf("the monolith still listens on %s after edged dev stopped", monoAddr)
	}
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
