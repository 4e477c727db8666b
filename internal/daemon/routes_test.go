package daemon

import (
	"fmt"
	"testing"

	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/strangler"
)

func TestMergeRoutes(t *testing.T) {
	mig := func(steps ...int) *config.Migration { return &config.Migration{Steps: steps, OnFailure: "rollback"} }
	base := config.Route{Name: "users", Path: "/api/users", Methods: []string{"GET"}, Upstream: "mono",
		Function: "users", Stage: "legacy", Migration: mig(5, 25, 100)}
	with := func(f func(r *config.Route)) config.Route {
		r := base
		r.Methods = append([]string(nil), base.Methods...)
		r.Migration = mig(5, 25, 100)
		f(&r)
		return r
	}
	// What the operator did at run time: promoted to canary 25, step 1, paused.
	live := strangler.Route{Name: "users", Path: "/api/users", Methods: []string{"GET"}, Upstream: "mono",
		Function: "users", Stage: strangler.StageCanary, Weight: 25, Step: 1, Paused: true}
	kept := [4]any{strangler.StageCanary, 25, 1, true}
	fromFile := [4]any{strangler.StageLegacy, 0, -1, false}

	tests := []struct {
		name string
		next config.Route
		want [4]any // stage, weight, step, paused
	}{
		{"unchanged", with(func(*config.Route) {}), kept},
		{"file stage edited", with(func(r *config.Route) { r.Stage = "isolate" }), [4]any{strangler.StageIsolate, 0, -1, false}},
		{"file weight edited", with(func(r *config.Route) { r.Weight = 50 }), [4]any{strangler.StageLegacy, 50, -1, false}},
		{"fallback changed", with(func(r *config.Route) { f := false; r.Fallback = &f }), kept},
		{"sticky changed", with(func(r *config.Route) { r.Sticky = "header:x-user" }), kept},
		{"path changed", with(func(r *config.Route) { r.Path = "/v2/users" }), fromFile},
		{"host changed", with(func(r *config.Route) { r.Host = "api.example.com" }), fromFile},
		{"methods changed", with(func(r *config.Route) { r.Methods = []string{"GET", "HEAD"} }), fromFile},
		{"upstream changed", with(func(r *config.Route) { r.Upstream = "mono2" }), fromFile},
		{"function changed", with(func(r *config.Route) { r.Function = "users2" }), fromFile},
		{"migration changed", with(func(r *config.Route) { r.Migration = mig(10, 100) }), fromFile},
		{"migration removed", with(func(r *config.Route) { r.Migration = nil }), fromFile},
		{"renamed", with(func(r *config.Route) { r.Name = "people" }), fromFile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prev := &config.Config{Routes: []config.Route{base}}
			next := &config.Config{Routes: []config.Route{tc.next}}
			got, err := mergeRoutes(prev, next, []strangler.Route{live})
			if err != nil {
				t.Fatalf("mergeRoutes: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("mergeRoutes returned %d routes, want 1", len(got))
			}
			r := got[0]
			if g := [4]any{r.Stage, r.Weight, r.Step, r.Paused}; g != tc.want {
				t.Errorf("mergeRoutes(%s) = stage/weight/step/paused %v, want %v", tc.name, g, tc.want)
			}
			if r.Path != tc.next.Path || r.Upstream != tc.next.Upstream || r.Function != tc.next.Function || r.Sticky != tc.next.Sticky {
				t.Errorf("mergeRoutes(%s) = %+v, want the definition from the new file", tc.name, r)
			}
		})
	}
}

func TestTableRoutes(t *testing.T) {
	cfg := &config.Config{Routes: []config.Route{
		{Name: "a", Path: "/a", Upstream: "u", Stage: "legacy"},
		{Name: "b", Path: "/b", Function: "f", Stage: "retired", Sticky: "ip"},
		{Name: "c", Path: "/c", Function: "f", Upstream: "u", Stage: "canary", Weight: 5, MirrorUnsafe: true},
	}}
	got, err := tableRoutes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"a /a legacy 0 -1 false",
		"b /b retired 0 -1 false",
		"c /c canary 5 -1 true",
	}
	for i, r := range got {
		if s := fmt.Sprintf("%s %s %v %d %d %v", r.Name, r.Path, r.Stage, r.Weight, r.Step, r.MirrorUnsafe); s != want[i] {
			t.Errorf("tableRoutes()[%d] = %q, want %q", i, s, want[i])
		}
	}
	if _, err := strangler.NewTable(got); err != nil {
		t.Errorf("NewTable(tableRoutes()) = %v, want nil", err)
	}

	bad := &config.Config{Routes: []config.Route{{Name: "x", Path: "/", Stage: "sideways"}}}
	if _, err := tableRoutes(bad); err == nil {
		t.Errorf("tableRoutes(stage sideways) = nil error, want one")
	}
}

// BenchmarkMergeRoutes measures a reload's route merge at 10,000 routes.
func BenchmarkMergeRoutes(b *testing.B) {
	const n = 10000
	cfg := &config.Config{Routes: make([]config.Route, n)}
	for i := range cfg.Routes {
		cfg.Routes[i] = config.Route{Name: fmt.Sprintf("r%d", i), Path: fmt.Sprintf("/p%d", i), Upstream: "u",
			Function: "f", Stage: "canary", Weight: 5, Methods: []string{"GET"},
			Migration: &config.Migration{Steps: []int{5, 25, 100}}}
	}
	live, err := tableRoutes(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mergeRoutes(cfg, cfg, live); err != nil {
			b.Fatal(err)
		}
	}
}
