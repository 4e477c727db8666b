package archtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// module is the import path every package of edged starts with.
const module = "github.com/edged/edged/"

// node is one package of the module: its layer and the packages of ours it may
// import (a permission, not a requirement). Paths are relative to module.
type node struct {
	layer   int
	imports []string
}

// arch is the package map. Layers: 0 leaves, 1 the engines on the leaves and the
// daemon's own helpers, 2 what prices the engines' usage (cost), 3 the router,
// 4 what is built on the router (the admin API; the config, which takes the
// libraries' exported defaults), 5 the daemon's composition root, 6 the
// commands. Later steps of the redesign add their packages here.
var arch = map[string]node{
	// The ground, below the leaves: rules of HTTP itself that several leaves
	// apply on the hot path.
	"internal/fieldname": {-1, nil},

	// Leaves: one concept each, the standard library, outside modules and the
	// ground only.
	"limits":                     {0, nil},
	"trace":                      {0, nil},
	"shadow":                     {0, nil},
	"auth":                       {0, []string{"internal/fieldname"}},
	"idempotency":                {0, []string{"internal/fieldname"}},
	"isolate/internal/wasmrw":    {0, nil},
	"isolate/guest/internal/abi": {0, nil}, // the guest side: compiled to wasm, not linked into edged
	"isolate/guest":              {1, []string{"isolate/guest/internal/abi"}},
	"examples/monolith":          {0, nil},
	"internal/archtest":          {0, nil},
	// upstreamtest: the loopback upstreams and raw client of proxy's and
	// router's tests.
	"internal/upstreamtest": {0, nil},
	// deploy: the systemd unit and Containerfile, and their tests; no code.
	"deploy": {0, nil},

	"isolate":   {1, []string{"internal/fieldname", "limits", "isolate/internal/wasmrw"}},
	"strangler": {1, []string{"internal/fieldname"}},
	// strangler/migrate drives a table's routes through migration plans:
	// gates, the controller, persistence of progress.
	"strangler/migrate": {2, []string{"strangler"}},
	"internal/otlp":     {1, []string{"trace"}},
	// proxy reads a traceparent only to put a trace id on its log lines.
	"proxy": {1, []string{"internal/fieldname", "trace"}},
	// events: NATS JetStream triggers, delivering to an Invoker it declares;
	// it records a span per delivery through trace.Exporter.
	"events": {1, []string{"trace"}},
	// idempotency/kvstore: the idempotency.Store of a fleet, in a JetStream
	// KV bucket.
	"idempotency/kvstore": {1, []string{"idempotency"}},

	// natstest starts events' embedded servers as a cluster of child
	// processes, for tests (the events cluster, the fleet).
	"internal/natstest": {2, []string{"events"}},

	// limits/fleetrate: a rate limit shared by a fleet over NATS JetStream,
	// on limits' token buckets.
	"limits/fleetrate": {1, []string{"limits"}},

	// corpus: the record-and-replay format; redaction uses shadow's JSON
	// paths, fetch errors limits' sentinels.
	"corpus": {1, []string{"limits", "shadow"}},

	// fleet: the route state of many nodes in NATS JetStream (KV, stream),
	// applied to a strangler table; beside events, above the migration
	// package whose Sampler and controller it serves.
	"fleet": {3, []string{"strangler", "strangler/migrate"}},

	// cost meters and prices isolate usage (isolate.Usage, the routes of a
	// strangler table): beside the router's other inputs, below the router.
	"cost": {2, []string{"isolate", "strangler"}},

	// replay runs a corpus against a function (isolate) or a deployment and
	// compares under the shadow rules.
	"replay": {2, []string{"isolate", "limits", "shadow", "corpus"}},

	"router": {3, []string{"internal/fieldname", "limits", "trace", "shadow", "auth", "idempotency", "proxy", "isolate", "strangler", "strangler/migrate", "cost", "corpus"}},

	// admin serves the admin API and dashboard on a router.Server; the router
	// never imports it.
	"admin": {4, []string{"cost", "strangler", "strangler/migrate", "router", "events", "fleet"}},
	// The config decodes router.toml into the libraries' options and takes
	// their exported Default* values (and events' subject and schedule
	// checks), so defaults and rules are written once.
	"internal/config": {4, []string{"limits", "limits/fleetrate", "shadow", "proxy", "isolate", "router", "events", "corpus", "fleet"}},

	// The composition root: config -> one generation, installed with one swap.
	"internal/daemon": {5, []string{"limits", "limits/fleetrate", "trace", "auth", "idempotency", "idempotency/kvstore", "proxy", "isolate", "strangler", "strangler/migrate", "cost", "router", "admin", "internal/config", "internal/otlp", "events", "corpus", "fleet"}},

	"cmd/edged":         {6, []string{"strangler", "cost", "router", "admin", "internal/config", "internal/daemon", "isolate", "limits", "corpus", "replay", "fleet"}},
	"scripts/gwfixture": {6, []string{"auth"}},
	"scripts/loadproxy": {6, []string{"isolate", "strangler", "proxy", "router", "internal/otlp"}},
	// surge drives a running edged over loopback sockets only.
	"scripts/surge": {6, nil},
	// loadevents runs the events engine alone and publishes through it.
	"scripts/loadevents": {6, []string{"events"}},
}

// TestArrows lists the module's packages with go list and checks every import
// of ours against arch.
func TestArrows(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the packages: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	graph, err := parseList(out)
	if err != nil {
		t.Fatal(err)
	}
	// A go list that listed nothing would pass every check.
	for _, p := range []string{"limits", "isolate", "router", "cmd/edged"} {
		if _, ok := graph[p]; !ok {
			t.Fatalf("go list did not list %s; listed %d packages", p, len(graph))
		}
	}
	for _, problem := range check(arch, graph) {
		t.Error(problem)
	}
}

// parseList reads go list's lines "path import import ..." into the imports of
// ours of each package of ours, relative to module.
func parseList(out []byte) (map[string][]string, error) {
	graph := make(map[string][]string)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		pkg, ok := strings.CutPrefix(fields[0], module)
		if !ok {
			return nil, fmt.Errorf("go list named %q, outside %s", fields[0], module)
		}
		ours := []string{}
		for _, imp := range fields[1:] {
			if rel, ok := strings.CutPrefix(imp, module); ok {
				ours = append(ours, rel)
			}
		}
		graph[pkg] = ours
	}
	return graph, sc.Err()
}

// check returns a line for every package missing from the table, every import
// the table does not allow, and every permission of the table that points to
// the same or a higher layer (or to a package the table does not know).
func check(arch map[string]node, graph map[string][]string) []string {
	var problems []string
	for _, pkg := range sortedKeys(arch) {
		n := arch[pkg]
		for _, imp := range n.imports {
			to, ok := arch[imp]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("table: %s may import %s, which the table does not list", pkg, imp))
			case to.layer >= n.layer:
				problems = append(problems, fmt.Sprintf("table: %s (layer %d) may import %s (layer %d): arrows must point to a lower layer",
					pkg, n.layer, imp, to.layer))
			}
		}
	}
	for _, pkg := range sortedKeys(graph) {
		n, ok := arch[pkg]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is not in the package map: add it to arch with its layer and imports", pkg))
			continue
		}
		for _, imp := range graph[pkg] {
			if !slices.Contains(n.imports, imp) {
				problems = append(problems, fmt.Sprintf("%s imports %s, which the package map does not allow", pkg, imp))
			}
		}
	}
	return problems
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestCheckRejects feeds check graphs and tables with one fault each, so that
// TestArrows cannot pass by accepting everything.
func TestCheckRejects(t *testing.T) {
	base := map[string]node{
		"limits":          {0, nil},
		"trace":           {0, nil},
		"internal/config": {1, []string{"limits"}},
		"router":          {2, []string{"limits", "trace"}},
	}
	with := func(pkg string, n node) map[string]node {
		m := make(map[string]node, len(base)+1)
		for k, v := range base {
			m[k] = v
		}
		m[pkg] = n
		return m
	}
	good := map[string][]string{"limits": {}, "trace": {}, "internal/config": {"limits"}, "router": {"trace"}}
	tests := []struct {
		name  string
		arch  map[string]node
		graph map[string][]string
		want  string // a substring of the one problem expected; "" for none
	}{
		{"allowed graph", base, good, ""},
		{"leaf imports a leaf", base, map[string][]string{"limits": {"trace"}}, "limits imports trace"},
		{"config imports the router", base, map[string][]string{"internal/config": {"router"}},
			"internal/config imports router"},
		{"unknown package", base, map[string][]string{"proxy": {}}, "proxy is not in the package map"},
		{"table lets a leaf import the router", with("trace", node{0, []string{"router"}}), good,
			"table: trace (layer 0) may import router (layer 2)"},
		{"table allows a sideways arrow", with("shadow", node{0, []string{"trace"}}), good,
			"table: shadow (layer 0) may import trace (layer 0)"},
		{"table names an unknown package", with("shadow", node{1, []string{"json"}}), good,
			"table: shadow may import json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := check(tc.arch, tc.graph)
			if tc.want == "" {
				if len(got) != 0 {
					t.Errorf("check = %q, want no problem", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Errorf("check = %q, want one problem containing %q", got, tc.want)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	out := []byte(module + "router " + module + "trace fmt github.com/valyala/fasthttp\n" + module + "limits\n")
	got, err := parseList(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !slices.Equal(got["router"], []string{"trace"}) || len(got["limits"]) != 0 {
		t.Errorf("parseList = %q, want router -> trace and limits -> nothing", got)
	}
	if _, err := parseList([]byte("example.com/other fmt\n")); err == nil {
		t.Error("parseList accepted a package outside the module")
	}
}
