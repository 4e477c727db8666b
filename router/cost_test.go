package router

import (
	"math"
	"testing"
	"time"

	"github.com/edged/edged/cost"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b)) }

// costEnv is a live edge with a shared function on two routes, a shadow
// route and a legacy route.
type costEnv struct {
	e *edge
}

func startCostEnv(t *testing.T) *costEnv {
	t.Helper()
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{BillingGranularity: 10 * time.Millisecond})
	ln := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("Hello from C\n") })
	up := newUpstream(t, ln.Addr().String(), proxy.Options{})
	e := startEdge(t, []strangler.Route{
		{Name: "iso", Path: "/fast", Function: "hello", Stage: strangler.StageRetired},
		{Name: "other", Path: "/other", Function: "hello", Stage: strangler.StageRetired},
		{Name: "shadowed", Path: "/shadow", Function: "hello", Upstream: "up", Stage: strangler.StageShadow},
		{Name: "legacy", Path: "/legacy", Upstream: "up"},
	}, &World{Functions: map[string]*isolate.Function{"hello": hello}, Upstreams: map[string]*proxy.Upstream{"up": up}})
	return &costEnv{e: e}
}

// TestCostReportLive runs real invocations through the edge and checks that
// Server.CostReport reports them per function and per route (package admin
// serves it as GET /v1/cost).
func TestCostReportLive(t *testing.T) {
	p := cost.Pricing{PerMillionRequests: 0.2, PerGBSecond: 1.6e-5, ContainerPerHour: 0.05, ContainerRequestsPerSecond: 100}
	c := startCostEnv(t)
	for range 3 {
		send(t, "GET", "http://"+c.e.addr+"/fast", nil, "")
	}
	send(t, "GET", "http://"+c.e.addr+"/other", nil, "")
	for range 2 {
		send(t, "GET", "http://"+c.e.addr+"/shadow", nil, "")
		// One mirror at a time: the mirror runs after the answer, so two sent
		// back to back could overlap and the peak below would be 2.
		c.e.waitMirror(t, 1)
	}
	send(t, "GET", "http://"+c.e.addr+"/legacy", nil, "")
	rep := c.e.srv.CostReport(p, c.e.table)
	if rep.Pricing != p {
		t.Errorf("Pricing = %+v, want %+v", rep.Pricing, p)
	}
	if len(rep.Functions) != 1 || rep.Functions[0].Invocations != 6 {
		t.Fatalf("Functions = %+v, want hello with 6 invocations", rep.Functions)
	}
	f := rep.Functions[0]
	if f.BilledMs < f.ExecMs || f.BilledMs < 60 || f.GBSeconds <= 0 || f.FunctionMonthly <= 0 || f.BreakEven == nil {
		t.Errorf("hello = %+v, want billed >= exec, >= 6 × 10ms, and costs", f)
	}
	want := []struct {
		route, stage          string
		invocations, mirrored uint64
	}{
		{"iso", "retired", 3, 0},
		{"other", "retired", 1, 0},
		{"shadowed", "shadow", 2, 2},
	}
	if len(rep.Routes) != len(want) {
		t.Fatalf("Routes = %+v, want iso, other, shadowed", rep.Routes)
	}
	for i, w := range want {
		r := rep.Routes[i]
		if r.Route != w.route || r.Stage != w.stage || r.Function != "hello" || r.Invocations != w.invocations ||
			r.Mirrored != w.mirrored {
			t.Errorf("Routes[%d] = %+v, want %s (%s) with %d invocations, %d mirrored", i, r, w.route, w.stage,
				w.invocations, w.mirrored)
			continue
		}
		// Each invocation bills whole 10ms units of the function's cap.
		units := r.BilledMs / 10
		if r.GranularityMs != 10 || r.BilledMs < 10*float64(w.invocations) || units != math.Trunc(units) ||
			r.BilledMs < r.WallMs {
			t.Errorf("%s: BilledMs, WallMs, GranularityMs = %v, %v, %v, want whole 10ms units, >= wall",
				w.route, r.BilledMs, r.WallMs, r.GranularityMs)
		}
		if wantGBs := r.BilledMs / 1000 * r.MemoryMiB / 1024; r.MemoryMiB != f.MemoryMiB || !near(r.GBSeconds, wantGBs) {
			t.Errorf("%s: GBSeconds, MemoryMiB = %v, %v, want %v, %v", w.route, r.GBSeconds, r.MemoryMiB, wantGBs, f.MemoryMiB)
		}
		if r.PeakConcurrency != 1 || r.MeanConcurrency <= 0 || r.FunctionMonthly <= 0 || r.BreakEven == nil {
			t.Errorf("%s = %+v, want peak 1, a mean, costs and a break-even", w.route, r)
		}
	}
	if u, ok := c.e.srv.RouteUsage("nope"); ok {
		t.Errorf("RouteUsage(%q) = %+v, true, want false", "nope", u)
	}
}
