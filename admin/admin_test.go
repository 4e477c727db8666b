package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/router"
	"github.com/edged/edged/strangler"
	"github.com/edged/edged/strangler/migrate"
)

const adminToken = "t0ken"

type adminEnv struct {
	table   *strangler.Table
	srv     *router.Server
	url     string
	reloads int
	ready   bool
}

func startAdmin(t *testing.T, reloadErr error) *adminEnv {
	t.Helper()
	table, err := strangler.NewTable([]strangler.Route{
		{Name: "users", Path: "/api/users", Upstream: "mono", Function: "api", Step: -1},
		{Name: "legacy-only", Path: "/old", Upstream: "mono", Step: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := router.NewServer(router.Config{Table: table}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &adminEnv{table: table, srv: srv, ready: true}
	a, err := New(Config{
		Table: table, Server: srv, Token: []byte(adminToken),
		Reload: func(context.Context) error { env.reloads++; return reloadErr },
		Ready:  func() bool { return env.ready },
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a)
	t.Cleanup(hs.Close)
	env.url = hs.URL
	return env
}

func (env *adminEnv) do(t *testing.T, method, path, token, body string) (int, http.Header, map[string]any) {
	t.Helper()
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	r := send(t, method, env.url+path, hdr, body)
	var out map[string]any
	if strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal([]byte(r.body), &out); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, r.body, err)
		}
	}
	return r.status, r.header, out
}

func TestAdminAuth(t *testing.T) {
	env := startAdmin(t, nil)
	before := env.table.Routes()
	tests := []struct {
		name, method, path, token string
	}{
		{"no token", "POST", "/v1/routes/users/promote", ""},
		{"wrong token", "POST", "/v1/routes/users/promote", "nope"},
		{"prefix of token", "POST", "/v1/routes/users/promote", "t0"},
		{"wrong token, wrong method", "GET", "/v1/routes/users/promote", "nope"},
		{"list", "GET", "/v1/routes", ""},
		{"reload", "POST", "/v1/reload", "x"},
		{"unknown path", "GET", "/v1/nothing", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := env.do(t, tc.method, tc.path, tc.token, `{"reason":"x"}`)
			if code != 401 || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") || body["error"] == nil {
				t.Errorf("%s %s = %d %v %v, want 401 with WWW-Authenticate: Bearer and a JSON error",
					tc.method, tc.path, code, hdr, body)
			}
		})
	}
	if after := env.table.Routes(); !reflect.DeepEqual(before, after) {
		t.Errorf("routes changed without a token: %+v -> %+v", before, after)
	}
	if evs := env.table.Events(0, 0); len(evs) != 0 || env.reloads != 0 {
		t.Errorf("events %v and %d reloads after unauthenticated calls, want none", evs, env.reloads)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := send(t, "GET", env.url+p, nil, ""); r.status != 200 {
			t.Errorf("GET %s without a token = %d, want 200", p, r.status)
		}
	}
	env.ready = false
	if r := send(t, "GET", env.url+"/readyz", nil, ""); r.status != 503 {
		t.Errorf("GET /readyz when not ready = %d, want 503", r.status)
	}
}

func TestAdminPromoteRollback(t *testing.T) {
	env := startAdmin(t, nil)
	steps := []struct {
		action, body string
		wantStage    string
		wantWeight   float64
	}{
		{"promote", `{"reason":"looks good"}`, "shadow", 0},
		{"promote", "", "canary", 5},
		{"promote", "", "canary", 25},
		{"weight", `{"weight":40}`, "canary", 40},
		{"promote", "", "canary", 50},
		{"promote", "", "canary", 100},
		{"promote", "", "isolate", 100},
		{"promote", "", "retired", 100},
		{"rollback", "", "isolate", 100},
		{"rollback", `{"reason":"errors"}`, "legacy", 0},
		{"pause", "", "legacy", 0},
		{"promote", "", "shadow", 0},
	}
	for i, st := range steps {
		code, _, body := env.do(t, "POST", "/v1/routes/users/"+st.action, adminToken, st.body)
		route, _ := body["route"].(map[string]any)
		if code != 200 || route["stage"] != st.wantStage || route["weight"] != st.wantWeight {
			t.Fatalf("step %d: POST %s %s = %d %v, want 200 stage %s weight %v", i, st.action, st.body, code, body,
				st.wantStage, st.wantWeight)
		}
	}
	if r, _ := env.table.Route("users"); !r.Paused || r.Stage != strangler.StageShadow {
		t.Errorf("table route = %+v, want paused at shadow", r)
	}
	// A weight only means something in the canary stage.
	if code, _, _ := env.do(t, "POST", "/v1/routes/users/weight", adminToken, `{"weight":100}`); code != 409 {
		t.Errorf("POST weight at shadow = %d, want 409", code)
	}
	if code, _, _ := env.do(t, "POST", "/v1/routes/users/promote", adminToken, `{"weight":100}`); code != 400 {
		t.Errorf("POST promote with a weight = %d, want 400", code)
	}
	code, _, _ := env.do(t, "POST", "/v1/routes/users/resume", adminToken, "")
	if r, _ := env.table.Route("users"); code != 200 || r.Paused {
		t.Errorf("resume = %d, route %+v; want unpaused", code, r)
	}

	evs := env.table.Events(0, 0)
	if len(evs) != len(steps)+1 {
		t.Fatalf("%d events, want %d", len(evs), len(steps)+1)
	}
	first := evs[0]
	if first.Kind != strangler.KindPromote || first.Actor != Actor || first.Reason != "looks good" ||
		first.From != strangler.StageLegacy || first.To != strangler.StageShadow {
		t.Errorf("first event = %+v, want a promote legacy->shadow by admin with the reason", first)
	}
	if evs[3].Kind != strangler.KindSetWeight || evs[3].Weight != 40 {
		t.Errorf("weight event = %+v, want set_weight 40", evs[3])
	}

	// GET /v1/events pages by sequence number.
	code, _, body := env.do(t, "GET", "/v1/events?since=2&limit=3", adminToken, "")
	page, _ := body["events"].([]any)
	if code != 200 || len(page) != 3 || page[0].(map[string]any)["seq"] != float64(3) {
		t.Errorf("GET /v1/events?since=2&limit=3 = %d %v, want seqs 3..5", code, body)
	}
	// GET /v1/routes/{name} shows the route, stats and its events.
	code, _, body = env.do(t, "GET", "/v1/routes/users", adminToken, "")
	if code != 200 || body["route"] == nil || body["stats"] == nil || len(body["events"].([]any)) != len(evs) {
		t.Errorf("GET /v1/routes/users = %d %v", code, body)
	}
	code, _, body = env.do(t, "GET", "/v1/routes", adminToken, "")
	if code != 200 || len(body["routes"].([]any)) != 2 {
		t.Errorf("GET /v1/routes = %d %v, want 2 routes", code, body)
	}
}

func TestAdminErrors(t *testing.T) {
	env := startAdmin(t, errors.New("bad config"))
	before := env.table.Routes()
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown route", "POST", "/v1/routes/nope/promote", "", 404},
		{"unknown route GET", "GET", "/v1/routes/nope", "", 404},
		{"unknown action", "POST", "/v1/routes/users/explode", "", 404},
		{"GET an action", "GET", "/v1/routes/users/promote", "", 405},
		{"POST a list", "POST", "/v1/routes", "", 405},
		{"DELETE events", "DELETE", "/v1/events", "", 405},
		{"bad JSON", "POST", "/v1/routes/users/promote", "{", 400},
		{"unknown field", "POST", "/v1/routes/users/promote", `{"reasn":"x"}`, 400},
		{"weight out of range", "POST", "/v1/routes/users/weight", `{"weight":101}`, 400},
		{"weight missing", "POST", "/v1/routes/users/weight", `{}`, 400},
		{"weight outside canary", "POST", "/v1/routes/users/weight", `{"weight":10}`, 409},
		{"negative weight", "POST", "/v1/routes/users/weight", `{"weight":-1}`, 400},
		{"weight given to promote", "POST", "/v1/routes/users/promote", `{"weight":10}`, 400},
		{"rollback at legacy", "POST", "/v1/routes/users/rollback", "", 409},
		{"promote without function", "POST", "/v1/routes/legacy-only/promote", "", 409},
		{"bad since", "GET", "/v1/events?since=x", "", 400},
		{"reload fails", "POST", "/v1/reload", "", 422},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := env.do(t, tc.method, tc.path, adminToken, tc.body)
			if code != tc.want || body["error"] == nil {
				t.Errorf("%s %s = %d %v, want %d with a JSON error", tc.method, tc.path, code, body, tc.want)
			}
			if code == 405 && hdr.Get("Allow") == "" {
				t.Errorf("%s %s: 405 without Allow", tc.method, tc.path)
			}
		})
	}
	if after := env.table.Routes(); !reflect.DeepEqual(before, after) {
		t.Errorf("routes changed by failed calls: %+v -> %+v", before, after)
	}
	if env.reloads != 1 {
		t.Errorf("reloads = %d, want 1", env.reloads)
	}
}

// TestMigrationMetrics checks that a route with a plan exports its step and
// the controller's judgement on /metrics, and that the dashboard's data comes
// with gates.
func TestMigrationMetrics(t *testing.T) {
	table, err := strangler.NewTable([]strangler.Route{
		{Name: "users", Path: "/api/users", Upstream: "mono", Function: "api", Stage: strangler.StageCanary, Weight: 5, Step: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := router.NewServer(router.Config{Table: table}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctrl := migrate.NewController(table, srv, migrate.ControllerOptions{})
	ctrl.SetPlans(map[string]strangler.Plan{"users": {Start: strangler.StageCanary, Steps: []int{5, 100},
		Interval: time.Minute, MinRequests: 10, MaxErrorRate: 0.01, MaxLatencyRatio: 1.5, MaxMismatchRate: 0.01}})
	ctrl.Tick()
	a, err := New(Config{Table: table, Server: srv, Token: []byte(adminToken), Controller: ctrl})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a)
	defer hs.Close()
	r := send(t, "GET", hs.URL+"/metrics", nil, "")
	for _, want := range []string{
		`edged_migration_step{route="users"} 0`,
		`edged_migration_verdict{route="users",verdict="waiting"} 1`,
		`edged_migration_step_requests{route="users"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	r = send(t, "GET", hs.URL+"/v1/routes/users", map[string]string{"Authorization": "Bearer " + adminToken}, "")
	var got struct {
		Plan  struct{ Steps []int }
		Gates struct{ Verdict string }
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Gates.Verdict != "waiting" || fmt.Sprint(got.Plan.Steps) != "[5 100]" {
		t.Errorf("GET /v1/routes/users = %s, want plan and gates", r.body)
	}
}

func TestRouteStatsNoise(t *testing.T) {
	for _, tc := range []struct {
		name  string
		noise []string
		want  string
	}{
		{"none", nil, `[]`},
		{"some", []string{"$.a", "body"}, `["$.a","body"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(toRouteStats(router.RouteStats{Noise: tc.noise}))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if got := string(m["noise"]); got != tc.want {
				t.Errorf("toRouteStats(Noise: %q)[noise] = %s, want %s", tc.noise, got, tc.want)
			}
		})
	}
}

// downMover is a Mover whose state store cannot be reached, as a fleet node
// cut off from NATS is.
type downMover struct{}

func (downMover) Move(context.Context, string, strangler.Transition, strangler.Action) (strangler.Route, error) {
	return strangler.Route{}, fmt.Errorf("%w: NATS is not reachable; serving the last-known-good state", strangler.ErrUnavailable)
}

func TestAdminActionThroughAnUnavailableMover(t *testing.T) {
	table, err := strangler.NewTable([]strangler.Route{{Name: "users", Path: "/api/users", Upstream: "mono", Function: "api", Step: -1}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Table: table, Mover: downMover{}, Token: []byte(adminToken)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a)
	t.Cleanup(hs.Close)
	env := &adminEnv{table: table, url: hs.URL}
	for _, action := range []string{"promote", "rollback", "pause", "resume"} {
		t.Run(action, func(t *testing.T) {
			code, _, body := env.do(t, "POST", "/v1/routes/users/"+action, adminToken, "")
			if code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(body["error"]), "not reachable") {
				t.Errorf("%s = %d %v, want 503 with the store's message", action, code, body)
			}
		})
	}
	if r, _ := table.Route("users"); r.Stage != strangler.StageLegacy || r.Paused {
		t.Errorf("the table changed behind the Mover: %s paused=%v", r.Stage, r.Paused)
	}
}

// errMover refuses every move with err.
type errMover struct{ err error }

func (m errMover) Move(context.Context, string, strangler.Transition, strangler.Action) (strangler.Route, error) {
	return strangler.Route{}, m.err
}

// TestAdminActionRefusals: each refusal of the Mover, and a move that could
// not be made durable, reaches the caller with its status and message.
func TestAdminActionRefusals(t *testing.T) {
	table, err := strangler.NewTable([]strangler.Route{{Name: "users", Path: "/api/users", Upstream: "mono", Function: "api", Step: -1}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mover   strangler.Mover // nil: the table
		durable error
		want    int
		message string
	}{
		{"not found", errMover{strangler.ErrNotFound}, nil, http.StatusNotFound, `route "users" not found`},
		{"stale", errMover{fmt.Errorf("%w: revision 3", strangler.ErrStale)}, nil, http.StatusConflict, "revision 3"},
		{"invalid route", errMover{fmt.Errorf("%w: no function", strangler.ErrInvalidRoute)}, nil, http.StatusConflict, "no function"},
		{"no transition", errMover{strangler.ErrNoTransition}, nil, http.StatusConflict, strangler.ErrNoTransition.Error()},
		{"other failure", errMover{errors.New("disk on fire")}, nil, http.StatusInternalServerError, "disk on fire"},
		{"not saved", nil, errors.New("disk full"), http.StatusInternalServerError, "applied, but not saved: disk full"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(Config{Table: table, Mover: tc.mover, Token: []byte(adminToken),
				Durable: func(context.Context) error { return tc.durable }})
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(a)
			t.Cleanup(hs.Close)
			env := &adminEnv{table: table, url: hs.URL}
			code, _, body := env.do(t, "POST", "/v1/routes/users/pause", adminToken, "")
			if code != tc.want || !strings.Contains(fmt.Sprint(body["error"]), tc.message) {
				t.Errorf("pause = %d %v, want %d with %q", code, body, tc.want, tc.message)
			}
		})
	}
}
