package cost

import (
	"math"
	"testing"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/strangler"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b)) }

func TestPriceFunction(t *testing.T) {
	ptr := func(f float64) *float64 { return &f }
	tests := []struct {
		name       string
		p          Pricing
		u          isolate.Usage
		fnMonthly  float64
		containers int
		ctMonthly  float64
		util       float64
		breakEven  *float64
		cheaper    bool
	}{
		{
			// 1 rps, 10ms each, peak 2 in flight: Little's law gives a
			// 200 rps peak, two containers of 100 rps.
			name: "light traffic stays on functions",
			p:    Pricing{PerMillionRequests: 1, ContainerPerHour: 1, ContainerRequestsPerSecond: 100},
			u: isolate.Usage{Elapsed: 1000 * time.Second, Invocations: 1000, InFlightTime: 10 * time.Second,
				PeakInFlight: 2},
			fnMonthly: 2.592, containers: 2, ctMonthly: 1460, util: 0.01,
			breakEven: ptr(730 / 2.592 / 100),
		},
		{
			// 10 rps at 0.1 GB-s each: 1e-6 USD a request, 25.92 a month,
			// against one 0.01/h container (7.30) it serves at full load.
			name: "sustained traffic is cheaper on a container",
			p:    Pricing{PerGBSecond: 1e-5, ContainerPerHour: 0.01, ContainerRequestsPerSecond: 10},
			u: isolate.Usage{Elapsed: 100 * time.Second, Invocations: 1000, GBSeconds: 100,
				InFlightTime: 100 * time.Second, PeakInFlight: 1},
			fnMonthly: 25.92, containers: 1, ctMonthly: 7.3, util: 1,
			breakEven: ptr(7.3 / 2.592 / 10), cheaper: true,
		},
		{
			name:       "no invocations",
			p:          DefaultPricing(),
			u:          isolate.Usage{Elapsed: time.Minute},
			containers: 1, ctMonthly: 0.05 * 730,
		},
		{
			name: "free requests have no break-even",
			p:    Pricing{ContainerPerHour: 1, ContainerRequestsPerSecond: 100},
			u: isolate.Usage{Elapsed: time.Second, Invocations: 1000, InFlightTime: time.Second,
				PeakInFlight: 1},
			containers: 10, ctMonthly: 7300, util: 10,
		},
		{
			name:      "zero capacity is taken as 1 rps",
			p:         Pricing{PerMillionRequests: 1e6, ContainerPerHour: 1},
			u:         isolate.Usage{Elapsed: 200 * time.Second, Invocations: 100},
			fnMonthly: 0.5 * 2592000, containers: 1, ctMonthly: 730, util: 0.5,
			breakEven: ptr(730 / 2592000.0), cheaper: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := priceUsage(tt.p, tt.u)
			if !near(fc.FunctionMonthly, tt.fnMonthly) {
				t.Errorf("FunctionMonthly = %v, want %v", fc.FunctionMonthly, tt.fnMonthly)
			}
			if fc.Containers != tt.containers || !near(fc.ContainerMonthly, tt.ctMonthly) {
				t.Errorf("Containers, ContainerMonthly = %d, %v, want %d, %v", fc.Containers, fc.ContainerMonthly, tt.containers, tt.ctMonthly)
			}
			if !near(fc.Utilization, tt.util) {
				t.Errorf("Utilization = %v, want %v", fc.Utilization, tt.util)
			}
			switch {
			case (fc.BreakEven == nil) != (tt.breakEven == nil):
				t.Errorf("BreakEven = %v, want %v", fc.BreakEven, tt.breakEven)
			case fc.BreakEven != nil && !near(*fc.BreakEven, *tt.breakEven):
				t.Errorf("BreakEven = %v, want %v", *fc.BreakEven, *tt.breakEven)
			}
			if fc.ContainerCheaper != tt.cheaper {
				t.Errorf("ContainerCheaper = %v, want %v", fc.ContainerCheaper, tt.cheaper)
			}
		})
	}
}

// TestCostLowVolume checks the container estimate where Little's law on its own
// goes wrong: 41 fast requests with 5 in flight at once read as a peak of
// thousands per second (the report once claimed 71 containers, $2,591 a month,
// for 41 requests). No second can hold more requests than were made in all,
// and too little data gets no verdict.
func TestCostLowVolume(t *testing.T) {
	p := Pricing{PerMillionRequests: 1e6, ContainerPerHour: 0.05, ContainerRequestsPerSecond: 100}
	tests := []struct {
		name       string
		u          isolate.Usage
		containers int
		lowData    bool
		cheaper    bool
	}{
		{"41 requests in a burst", isolate.Usage{Elapsed: 10 * time.Minute, Invocations: 41,
			InFlightTime: 41 * 700 * time.Microsecond, PeakInFlight: 5}, 1, true, false},
		{"enough requests, short window", isolate.Usage{Elapsed: 30 * time.Second, Invocations: 500,
			InFlightTime: 500 * time.Millisecond, PeakInFlight: 2}, 5, true, false},
		{"250 requests over ten minutes", isolate.Usage{Elapsed: 10 * time.Minute, Invocations: 250,
			InFlightTime: 250 * time.Millisecond, PeakInFlight: 5}, 3, false, true},
		{"sustained load keeps Little's estimate", isolate.Usage{Elapsed: 10 * time.Minute, Invocations: 600_000,
			InFlightTime: 600 * time.Second, PeakInFlight: 4}, 40, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc := priceUsage(p, tc.u)
			if fc.Containers != tc.containers || fc.LowData != tc.lowData || fc.ContainerCheaper != tc.cheaper {
				t.Errorf("priceUsage(%+v): containers %d, low data %v, container cheaper %v; want %d, %v, %v",
					tc.u, fc.Containers, fc.LowData, fc.ContainerCheaper, tc.containers, tc.lowData, tc.cheaper)
			}
			if limit := int(tc.u.Invocations); fc.Containers > max(1, limit) {
				t.Errorf("priceUsage: %d containers for %d requests", fc.Containers, limit)
			}
		})
	}
}

// TestBreakEvenIsEqualCost checks the definition: at the break-even
// utilization, functions cost what one container costs.
func TestBreakEvenIsEqualCost(t *testing.T) {
	p := DefaultPricing()
	u := isolate.Usage{Elapsed: time.Hour, Invocations: 3600, GBSeconds: 3600 * 0.128 * 0.05}
	be := *priceUsage(p, u).BreakEven
	// Scale the invocations (and memory-time with them) to that utilization.
	scale := be * p.ContainerRequestsPerSecond / 1.0
	u.Invocations = uint64(math.Round(3600 * scale))
	u.GBSeconds *= float64(u.Invocations) / 3600
	fc := priceUsage(p, u)
	if math.Abs(fc.FunctionMonthly-p.ContainerPerHour*730)/(p.ContainerPerHour*730) > 1e-3 {
		t.Errorf("at utilization %v: FunctionMonthly = %v, want one container's %v", fc.Utilization, fc.FunctionMonthly, p.ContainerPerHour*730)
	}
}

func TestComputeRoutes(t *testing.T) {
	usages := map[string]isolate.Usage{
		"b": {Elapsed: time.Second, Invocations: 1},
		"a": {Elapsed: time.Second},
	}
	routes := []strangler.Route{
		{Name: "z", Function: "b"}, {Name: "y", Function: "b"}, {Name: "legacy"},
		{Name: "gone", Function: "missing"},
	}
	rep := Compute(DefaultPricing(), usages, routes, nil)
	if len(rep.Functions) != 2 || rep.Functions[0].Function != "a" || rep.Functions[1].Function != "b" {
		t.Fatalf("Functions = %+v, want a, b", rep.Functions)
	}
	if got := rep.Functions[1].Routes; len(got) != 2 || got[0] != "y" || got[1] != "z" {
		t.Errorf("Functions[b].Routes = %v, want [y z]", got)
	}
	if len(rep.Routes) != 2 || rep.Routes[0].Route != "y" || rep.Routes[1].Route != "z" {
		t.Errorf("Routes = %+v, want y, z", rep.Routes)
	}
}

// TestComputePerRoute checks that routes sharing a function are priced
// from their own usage, and flagged on their own.
func TestComputePerRoute(t *testing.T) {
	p := Pricing{PerGBSecond: 1e-5, ContainerPerHour: 0.01, ContainerRequestsPerSecond: 10}
	functions := map[string]isolate.Usage{"api": {Elapsed: 100 * time.Second, Invocations: 1010, Utilization: 0.5}}
	routes := []strangler.Route{
		{Name: "hot", Function: "api", Stage: strangler.StageIsolate},
		{Name: "cold", Function: "api", Stage: strangler.StageCanary},
		{Name: "unloaded", Function: "gone", Stage: strangler.StageShadow},
		{Name: "never", Function: "gone"},
	}
	byRoute := map[string]RouteUsage{
		// 10 rps at 0.1 GB-s each: a full container's worth, past break-even.
		"hot": {Elapsed: 100 * time.Second, Invocations: 1000, GBSeconds: 100, Wall: 100 * time.Second,
			Billed: 100 * time.Second, PeakInFlight: 1},
		"cold":     {Elapsed: 100 * time.Second, Invocations: 10, GBSeconds: 1, Wall: time.Second, PeakInFlight: 1},
		"unloaded": {Elapsed: 100 * time.Second, Invocations: 4, Mirrored: 4, GBSeconds: 0.4, Wall: time.Second},
	}
	rep := Compute(p, functions, routes, byRoute)
	if len(rep.Routes) != 3 {
		t.Fatalf("Routes = %+v, want cold, hot, unloaded", rep.Routes)
	}
	want := []struct {
		route       string
		invocations uint64
		mirrored    uint64
		cheaper     bool
		warm        float64
		util        float64
	}{
		{"cold", 10, 0, false, 0.5, 0.01},
		{"hot", 1000, 0, true, 0.5, 1},
		{"unloaded", 4, 4, false, 0, 0.004},
	}
	for i, w := range want {
		r := rep.Routes[i]
		if r.Route != w.route || r.Invocations != w.invocations || r.Mirrored != w.mirrored ||
			r.ContainerCheaper != w.cheaper || !near(r.WarmUtilization, w.warm) || !near(r.Utilization, w.util) {
			t.Errorf("Routes[%d] = %+v, want %s: %d invocations (%d mirrored), cheaper %v, warm %v, util %v",
				i, r, w.route, w.invocations, w.mirrored, w.cheaper, w.warm, w.util)
		}
	}
	if hot := rep.Routes[1]; !near(hot.FunctionMonthly, 25.92) || hot.BreakEven == nil || hot.Stage != "isolate" {
		t.Errorf("hot = %+v, want 25.92 $/month, a break-even, stage isolate", hot)
	}
}
