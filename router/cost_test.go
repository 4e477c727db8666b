package router

import (
	"encoding/json"
	"math"
	"net/http/httptest"
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
			u:         isolate.Usage{Elapsed: 10 * time.Second, Invocations: 5},
			fnMonthly: 0.5 * 2592000, containers: 1, ctMonthly: 730, util: 0.5,
			breakEven: ptr(730 / 2592000.0), cheaper: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := priceFunction(tt.p, tt.u)
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

// TestBreakEvenIsEqualCost checks the definition: at the break-even
// utilization, functions cost what one container costs.
func TestBreakEvenIsEqualCost(t *testing.T) {
	p := DefaultPricing()
	u := isolate.Usage{Elapsed: time.Hour, Invocations: 3600, GBSeconds: 3600 * 0.128 * 0.05}
	be := *priceFunction(p, u).BreakEven
	// Scale the invocations (and memory-time with them) to that utilization.
	scale := be * p.ContainerRequestsPerSecond / 1.0
	u.Invocations = uint64(math.Round(3600 * scale))
	u.GBSeconds *= float64(u.Invocations) / 3600
	fc := priceFunction(p, u)
	if math.Abs(fc.FunctionMonthly-p.ContainerPerHour*730)/(p.ContainerPerHour*730) > 1e-3 {
		t.Errorf("at utilization %v: FunctionMonthly = %v, want one container's %v", fc.Utilization, fc.FunctionMonthly, p.ContainerPerHour*730)
	}
}

func TestComputeCostRoutes(t *testing.T) {
	usages := map[string]isolate.Usage{
		"b": {Elapsed: time.Second, Invocations: 1},
		"a": {Elapsed: time.Second},
	}
	routes := []strangler.Route{
		{Name: "z", Function: "b"}, {Name: "y", Function: "b"}, {Name: "legacy"},
		{Name: "gone", Function: "missing"},
	}
	rep := ComputeCost(DefaultPricing(), usages, routes)
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

func TestAdminCost(t *testing.T) {
	env := startAdmin(t, nil)
	if code, _, _ := env.do(t, "GET", "/v1/cost", "", ""); code != 401 {
		t.Errorf("GET /v1/cost without token = %d, want 401", code)
	}
	code, _, body := env.do(t, "GET", "/v1/cost", adminToken, "")
	if code != 200 {
		t.Fatalf("GET /v1/cost = %d, want 200", code)
	}
	if _, ok := body["pricing"].(map[string]any); !ok {
		t.Errorf("GET /v1/cost body %v lacks pricing", body)
	}
}

// TestCostReportLive runs real invocations through the edge and checks the
// report counts them against the route.
func TestCostReportLive(t *testing.T) {
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{})
	e := startEdge(t, []strangler.Route{
		{Name: "iso", Path: "/fast", Function: "hello", Stage: strangler.StageRetired},
	}, &World{Functions: map[string]*isolate.Function{"hello": hello}})
	for range 3 {
		send(t, "GET", "http://"+e.addr+"/fast", nil, "")
	}
	p := Pricing{PerMillionRequests: 0.2, PerGBSecond: 1.6e-5, ContainerPerHour: 0.05, ContainerRequestsPerSecond: 100}
	a, err := NewAdmin(AdminConfig{Table: e.table, Server: e.srv, Token: []byte(adminToken), Pricing: &p})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a)
	defer hs.Close()
	r := send(t, "GET", hs.URL+"/v1/cost", map[string]string{"Authorization": "Bearer " + adminToken}, "")
	var rep CostReport
	if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
		t.Fatalf("GET /v1/cost body %q: %v", r.body, err)
	}
	if len(rep.Functions) != 1 || rep.Functions[0].Invocations != 3 {
		t.Fatalf("Functions = %+v, want hello with 3 invocations", rep.Functions)
	}
	f := rep.Functions[0]
	if f.BilledMs < f.ExecMs || f.BilledMs < 3 || f.GBSeconds <= 0 || f.FunctionMonthly <= 0 || f.BreakEven == nil {
		t.Errorf("hello = %+v, want billed >= exec, >= 3ms, and costs", f)
	}
	if len(rep.Routes) != 1 || rep.Routes[0].Route != "iso" || rep.Pricing != p {
		t.Errorf("Routes, Pricing = %+v, %+v", rep.Routes, rep.Pricing)
	}
}
