package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Migrations on the running daemon, with real guests and the real monolith:
// the controller walks a healthy canary to the isolate stage, rolls back a
// failing one and a shadow whose bodies differ, and progress survives a
// restart, kill -9 and a corrupt state file.

const migToken = "admin-token-for-tests"

func migConfig(t *testing.T, b *binaries, upstream, usersSteps, usersInterval string) string {
	t.Helper()
	return daemonTOML(b) + fmt.Sprintf(`

[upstreams.monolith]
url = %[1]q

[functions.users]
module = %[2]q
min_instances = 1

[functions.trap]
module = %[3]q

[functions.hello]
module = %[4]q

[functions.slow]
module = %[7]q

# A healthy isolate: the Go guest answers /api/users like the monolith. The
# p99 of a small window is its slowest request, and one scheduling stall
# under -race on a busy CI machine once made it 25x legacy's: this case is
# about the walk, the latency gate has its own case below.
[[routes]]
name = "users"
path = "/api/users"
stage = "canary"
weight = 10
sticky = "header:x-user"
function = "users"
upstream = "monolith"
[routes.migration]
steps = %[5]s
interval = %[6]q
min_requests = 100
max_latency_ratio = 200.0

# A failing isolate: every invocation traps. GETs fall back to legacy.
[[routes]]
name = "trapper"
path = "/trapper"
stage = "canary"
weight = 50
sticky = "header:x-user"
function = "trap"
upstream = "monolith"
[routes.migration]
steps = [50, 100]
interval = "1h"
min_requests = 10

# Wrong bodies: the guest's greeting differs from the monolith's.
[[routes]]
name = "greeting"
path = "/hello"
stage = "shadow"
function = "hello"
upstream = "monolith"
[routes.migration]
start = "shadow"
steps = [10, 100]
interval = "1h"
min_requests = 10

# A slow isolate: correct answers, but far slower than legacy.
[[routes]]
name = "slowpoke"
path = "/slowpoke"
stage = "canary"
weight = 50
sticky = "header:x-user"
function = "slow"
upstream = "monolith"
[routes.migration]
steps = [50, 100]
interval = "1h"
min_requests = 10
max_latency_ratio = 1.5

[[routes]]
name = "root"
path = "/"
stage = "legacy"
upstream = "monolith"
`, upstream,
		repoPath(t, "examples/guests/jsonapi/jsonapi.wasm"),
		repoPath(t, "isolate/testdata/trap.wasm"),
		repoPath(t, "examples/guests/hello/hello.wasm"),
		usersSteps, usersInterval,
		repoPath(t, "isolate/testdata/slow.wasm"))
}

type migRoute struct {
	Route struct {
		Stage  string `json:"stage"`
		Weight int    `json:"weight"`
		Paused bool   `json:"paused"`
	} `json:"route"`
	Gates *struct {
		Verdict string `json:"verdict"`
		Reason  string `json:"reason"`
	} `json:"gates"`
	Events []struct {
		Kind   string `json:"kind"`
		Actor  string `json:"actor"`
		Reason string `json:"reason"`
		To     string `json:"to"`
	} `json:"events"`
}

func migGet(t *testing.T, e *edgedProc, name string) migRoute {
	t.Helper()
	code, _, body := get(t, e.admin+"/v1/routes/"+name, "Authorization", "Bearer "+migToken)
	if code != 200 {
		t.Fatalf("GET /v1/routes/%s = %d %q", name, code, body)
	}
	var r migRoute
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("GET /v1/routes/%s: %v", name, err)
	}
	return r
}

func migPost(t *testing.T, e *edgedProc, path string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.admin+path, strings.NewReader(`{"reason":"test"}`))
	req.Header.Set("Authorization", "Bearer "+migToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s = %d", path, resp.StatusCode)
	}
}

// drive sends GETs to path (each with its own x-user) until done reports
// true or max requests were sent; it returns how many were sent and how many
// answered 5xx (user-visible failures).
func drive(t *testing.T, e *edgedProc, path string, max int, done func() bool) (sent, failed int) {
	t.Helper()
	for sent < max {
		for range 10 {
			code, _, _ := get(t, e.public+path, "x-user", fmt.Sprintf("user-%d", sent))
			sent++
			if code >= 500 {
				failed++
			}
		}
		if done() {
			return sent, failed
		}
	}
	return sent, failed
}

func TestMigrations(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	b := needBinaries(t)
	dir := t.TempDir()
	_, monoURL := startMonolithProc(t, b)
	cfg := writeFile(t, dir, "router.toml", migConfig(t, b, monoURL, "[10, 50, 100]", "1s"), 0o644)
	writeFile(t, dir, "admin.token", migToken+"\n", 0o600)
	e := startEdged(t, b, nil, "serve", "-config", cfg)

	t.Run("a healthy canary walks to the isolate stage by itself", func(t *testing.T) {
		var walk []string
		last := ""
		sent, failed := drive(t, e, "/api/users", 20000, func() bool {
			r := migGet(t, e, "users")
			if cur := fmt.Sprintf("%s/%d", r.Route.Stage, r.Route.Weight); cur != last {
				walk, last = append(walk, cur), cur
			}
			return r.Route.Stage == "isolate"
		})
		got := strings.Join(walk, " ")
		if got != "canary/10 canary/50 canary/100 isolate/100" {
			var why []string
			for _, ev := range migGet(t, e, "users").Events {
				why = append(why, ev.Kind+" by "+ev.Actor+": "+ev.Reason)
			}
			t.Fatalf("walk = %q after %d requests, want canary/10 canary/50 canary/100 isolate/100; events:\n%s",
				got, sent, strings.Join(why, "\n"))
		}
		if failed != 0 {
			t.Errorf("%d of %d requests failed during the walk", failed, sent)
		}
		for _, ev := range migGet(t, e, "users").Events {
			if ev.Kind == "promote" && (ev.Actor != "controller" || !strings.Contains(ev.Reason, "gates passed")) {
				t.Errorf("promotion event %+v: want the controller with its reason", ev)
			}
		}
		t.Logf("healthy walk: %d requests, %d user-visible failures", sent, failed)
	})

	// Failing plans: each rolls back by itself, well within its interval (an
	// hour: a failing gate acts at the first controller tick after
	// min_requests), naming the gate, with no 5xx seen by users (GETs fall
	// back to legacy; slowness and shadow mismatches fail nobody).
	rollbacks := []struct {
		name, route, path, reason string
		max                       int
	}{
		{"a failing canary rolls back after min_requests", "trapper", "/trapper", "error rate", 5000},
		{"a slow canary rolls back on latency", "slowpoke", "/slowpoke", "p99", 2000},
		{"a shadow with wrong bodies rolls back", "greeting", "/hello", "mismatch", 2000},
	}
	for _, tc := range rollbacks {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			sent, failed := drive(t, e, tc.path, tc.max, func() bool { return migGet(t, e, tc.route).Route.Stage == "legacy" })
			r := migGet(t, e, tc.route)
			if r.Route.Stage != "legacy" {
				t.Fatalf("%s = %s after %d requests, want legacy", tc.route, r.Route.Stage, sent)
			}
			ev := r.Events[len(r.Events)-1]
			if ev.Kind != "rollback" || ev.Actor != "controller" || !strings.Contains(ev.Reason, tc.reason) {
				t.Errorf("last event = %+v, want the controller's rollback naming %q", ev, tc.reason)
			}
			if time.Since(start) > time.Minute {
				t.Errorf("rolled back after %v, want well within the interval", time.Since(start))
			}
			if failed != 0 {
				t.Errorf("%d user-visible failures, want 0", failed)
			}
			t.Logf("%s: rolled back after %d requests, %d user-visible failures", tc.route, sent, failed)
		})
	}
}

// TestMigrationStateSurvivesRestarts runs its phases in order on one state
// directory. They are not subtests: each edged process belongs to the test
// and must outlive the phase that started it.
func TestMigrationStateSurvivesRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	b := needBinaries(t)
	dir := t.TempDir()
	_, monoURL := startMonolithProc(t, b)
	// An interval of an hour: only people move "users" here.
	cfg := writeFile(t, dir, "router.toml", migConfig(t, b, monoURL, "[10, 50, 100]", "1h"), 0o644)
	writeFile(t, dir, "admin.token", migToken+"\n", 0o600)

	e := startEdged(t, b, nil, "serve", "-config", cfg)
	migPost(t, e, "/v1/routes/users/promote") // canary 10 -> 50
	migPost(t, e, "/v1/routes/users/pause")
	if r := migGet(t, e, "users"); r.Route.Weight != 50 || !r.Route.Paused {
		t.Fatalf("users = %+v, want canary 50 paused", r.Route)
	}

	t.Log("phase: kill -9 right after the admin answered")
	e.signal(t, syscall.SIGKILL)
	e.wait(t)
	e = startEdged(t, b, nil, "serve", "-config", cfg)
	r := migGet(t, e, "users")
	if r.Route.Stage != "canary" || r.Route.Weight != 50 || !r.Route.Paused {
		t.Fatalf("after kill -9: users = %+v, want canary 50 paused (router.toml says 10)", r.Route)
	}
	var kinds []string
	for _, ev := range r.Events {
		kinds = append(kinds, ev.Kind)
	}
	if got := strings.Join(kinds, ","); got != "promote,pause" {
		t.Errorf("events after restart = %s, want promote,pause", got)
	}

	t.Log("phase: graceful restart")
	migPost(t, e, "/v1/routes/users/resume")
	e.signal(t, syscall.SIGTERM)
	if code := e.wait(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	e = startEdged(t, b, nil, "serve", "-config", cfg)
	if r := migGet(t, e, "users"); r.Route.Weight != 50 || r.Route.Paused {
		t.Fatalf("after SIGTERM: users = %+v, want canary 50 resumed", r.Route)
	}

	t.Log("phase: a changed migration block resets to router.toml")
	e.signal(t, syscall.SIGTERM)
	e.wait(t)
	writeFile(t, dir, "router.toml", migConfig(t, b, monoURL, "[10, 25, 100]", "1h"), 0o644)
	e = startEdged(t, b, nil, "serve", "-config", cfg)
	if r := migGet(t, e, "users"); r.Route.Weight != 10 {
		t.Fatalf("after a plan change: users weight %d, want router.toml's 10", r.Route.Weight)
	}

	t.Log("phase: a corrupt state file is set aside and routes start safe")
	e.signal(t, syscall.SIGTERM)
	e.wait(t)
	state := filepath.Join(dir, "state", "migrations.json")
	if err := os.WriteFile(state, []byte(`{"version":1,"routes":[{"name":"users","stage":"isolate"`), 0o600); err != nil {
		t.Fatal(err)
	}
	e = startEdged(t, b, nil, "serve", "-config", cfg)
	r = migGet(t, e, "users")
	if r.Route.Stage != "legacy" || !r.Route.Paused {
		t.Errorf("after a corrupt state: users = %+v, want legacy paused", r.Route)
	}
	if aside, _ := filepath.Glob(state + ".corrupt-*"); len(aside) != 1 {
		t.Errorf("corrupt copies set aside: %v, want 1", aside)
	}
	e.stderr.wait(t, 0, "migration state is corrupt")
}
