package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/edged/edged/cost"
)

func TestPrintCost(t *testing.T) {
	be := 0.25
	rep := cost.Report{
		Pricing: cost.DefaultPricing(),
		Routes: []cost.RouteCost{
			{Route: "users", Stage: "isolate", Function: "api", Figures: cost.Figures{
				Invocations: 1000, BilledMs: 1000, GBSeconds: 0.125,
				PeakConcurrency: 2, MeanConcurrency: 0.25, WarmUtilization: 0.5, FunctionMonthly: 70,
				Containers: 2, ContainerMonthly: 73, Utilization: 0.27, BreakEven: &be, ContainerCheaper: true}},
			{Route: "orders", Stage: "shadow", Function: "api", Mirrored: 200, Figures: cost.Figures{
				Invocations: 200, Containers: 1, ContainerMonthly: 36.5}},
		},
		Functions: []cost.FunctionCost{
			{Function: "api", Routes: []string{"users", "orders"}, Figures: cost.Figures{
				Invocations: 1200, BilledMs: 1200, GBSeconds: 0.15,
				PeakConcurrency: 3, MeanConcurrency: 0.4, WarmUtilization: 0.5, FunctionMonthly: 80,
				Containers: 2, ContainerMonthly: 73, Utilization: 0.3, BreakEven: &be, ContainerCheaper: true}},
			{Function: "idle", Figures: cost.Figures{Containers: 1, ContainerMonthly: 36.5}},
		},
	}
	var sb strings.Builder
	printCost(&sb, rep)
	out := sb.String()
	for _, want := range []string{
		"FUNCTION", "users,orders", "1200", "3/0.40", "50.0%", "$80.00", "$73.00 (2)", "30.0%/25.0%",
		"container would be cheaper", "idle", "0.0%/-", "prices: $0.2 per million requests",
		"ROUTE", "users", "isolate", "1000", "2/0.25", "$70.00", "27.0%/25.0%", "200 (200 mirrored)", "shadow",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("printCost output lacks %q:\n%s", want, out)
		}
	}
}

// TestPrintCostRouteLines checks each route's own line: its figures and its
// own verdict, not its function's.
func TestPrintCostRouteLines(t *testing.T) {
	be := 0.25
	rep := cost.Report{
		Pricing: cost.DefaultPricing(),
		Routes: []cost.RouteCost{
			{Route: "hot", Stage: "isolate", Function: "api", Figures: cost.Figures{
				Invocations: 1000, Utilization: 0.3, BreakEven: &be, ContainerCheaper: true, Containers: 1}},
			{Route: "cold", Stage: "shadow", Function: "api", Mirrored: 7, Figures: cost.Figures{
				Invocations: 7, Utilization: 0.01, BreakEven: &be, Containers: 1}},
			{Route: "new", Stage: "canary", Function: "api", Figures: cost.Figures{
				Invocations: 41, Utilization: 0.5, BreakEven: &be, Containers: 1, LowData: true}},
		},
	}
	var sb strings.Builder
	printCost(&sb, rep)
	lines := map[string]string{}
	for l := range strings.Lines(sb.String()) {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = l
		}
	}
	tests := []struct {
		route string
		want  []string
	}{
		{"hot", []string{"isolate", "api", " 1000 ", "30.0%/25.0%", "container would be cheaper"}},
		{"cold", []string{"shadow", "7 (7 mirrored)", "1.0%/25.0%", "functions"}},
		{"new", []string{"canary", " 41 ", "$0.00 (1)", "too little data"}},
	}
	for _, tc := range tests {
		t.Run(tc.route, func(t *testing.T) {
			l, ok := lines[tc.route]
			if !ok {
				t.Fatalf("printCost output has no line for route %q:\n%s", tc.route, sb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(l, w) {
					t.Errorf("printCost line for %q = %q, want it to contain %q", tc.route, l, w)
				}
			}
		})
	}
}

// costConfig is a daemon with one function on two routes and a legacy route,
// priced at perMillion USD per million requests, billed in 10ms units.
func costConfig(t *testing.T, b *binaries, upstream string, perMillion float64) string {
	t.Helper()
	return daemonTOML(b) + fmt.Sprintf(`

[pricing]
per_million_requests = %[3]g
billing_granularity = "10ms"
container_per_hour = 0.01
container_requests_per_second = 1000

[upstreams.monolith]
url = %[1]q

[functions.fast]
module = %[2]q
memory = "1MiB"

[[routes]]
name = "fast"
path = "/fast"
stage = "retired"
function = "fast"

[[routes]]
name = "quick"
path = "/quick"
stage = "retired"
function = "fast"

[[routes]]
name = "root"
path = "/"
stage = "legacy"
upstream = "monolith"
`, upstream, repoPath(t, "examples/guests/hello-c/hello-c.wasm"), perMillion)
}

// TestCostOnDaemon drives the cost report on the real daemon: per-route
// figures in GET /v1/cost and in `edged cost`, and prices that follow a
// SIGHUP reload while the route figures carry on.
func TestCostOnDaemon(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	_, monoURL := startMonolithProc(t, b)
	cfgPath := writeFile(t, dir, "router.toml", costConfig(t, b, monoURL, 1), 0o644)
	tokenFile := writeFile(t, dir, "admin.token", "admin-token-for-tests\n", 0o600)
	e := startEdged(t, b, nil, "serve", "-config", cfgPath)
	for _, path := range []string{"/fast", "/fast", "/fast", "/quick"} {
		if code, _, body := get(t, e.public+path); code != 200 {
			t.Fatalf("GET %s = %d %q", path, code, body)
		}
	}
	report := func() cost.Report {
		t.Helper()
		code, _, body := get(t, e.admin+"/v1/cost", "Authorization", "Bearer admin-token-for-tests")
		if code != 200 {
			t.Fatalf("GET /v1/cost = %d %q", code, body)
		}
		var rep cost.Report
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatalf("GET /v1/cost body %q: %v", body, err)
		}
		return rep
	}
	routeInvocations := func(rep cost.Report) map[string]uint64 {
		got := map[string]uint64{}
		for _, r := range rep.Routes {
			got[r.Route] = r.Invocations
			if r.Invocations > 0 && (r.GranularityMs != 10 || r.BilledMs < 10*float64(r.Invocations) || r.GBSeconds <= 0) {
				t.Errorf("route %s = %+v, want 10ms units and memory-time", r.Route, r)
			}
		}
		return got
	}

	rep := report()
	if got := routeInvocations(rep); len(got) != 2 || got["fast"] != 3 || got["quick"] != 1 {
		t.Errorf("route invocations = %v, want fast 3, quick 1 (root has no function)", got)
	}
	if rep.Pricing.PerMillionRequests != 1 {
		t.Errorf("PerMillionRequests = %v, want 1 from [pricing]", rep.Pricing.PerMillionRequests)
	}
	code, out, errOut := runEdged(t, b, "cost", "-admin", e.admin, "-token-file", tokenFile)
	if code != 0 {
		t.Fatalf("edged cost: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"ROUTE", "fast", "quick", "retired", "FUNCTION", "prices: $1 per million"} {
		if !strings.Contains(out, want) {
			t.Errorf("edged cost output lacks %q:\n%s", want, out)
		}
	}

	from := e.stderr.len()
	writeFile(t, dir, "router.toml", costConfig(t, b, monoURL, 5), 0o644)
	e.signal(t, syscall.SIGHUP)
	e.stderr.wait(t, from, "msg=reloaded")
	rep = report()
	if rep.Pricing.PerMillionRequests != 5 {
		t.Errorf("PerMillionRequests after SIGHUP = %v, want 5 from the new [pricing]", rep.Pricing.PerMillionRequests)
	}
	if got := routeInvocations(rep); got["fast"] != 3 || got["quick"] != 1 {
		t.Errorf("route invocations after SIGHUP = %v, want fast 3, quick 1 kept", got)
	}
}
