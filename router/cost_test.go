package router

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edged/edged/cost"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b)) }

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

// costEnv is a live edge with a shared function on two routes and a shadow
// route, and the admin API in front of its Server.
type costEnv struct {
	e     *edge
	admin string
}

func startCostEnv(t *testing.T, p *cost.Pricing) *costEnv {
	t.Helper()
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{BillingGranularity: 10 * time.Millisecond})
	ln := startUpstream(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("Hello from C\n") })
	up := newUpstream(t, ln.Addr().String(), UpstreamOptions{})
	e := startEdge(t, []strangler.Route{
		{Name: "iso", Path: "/fast", Function: "hello", Stage: strangler.StageRetired},
		{Name: "other", Path: "/other", Function: "hello", Stage: strangler.StageRetired},
		{Name: "shadowed", Path: "/shadow", Function: "hello", Upstream: "up", Stage: strangler.StageShadow},
		{Name: "legacy", Path: "/legacy", Upstream: "up"},
	}, &World{Functions: map[string]*isolate.Function{"hello": hello}, Upstreams: map[string]*Upstream{"up": up}})
	a, err := NewAdmin(AdminConfig{Table: e.table, Server: e.srv, Token: []byte(adminToken), Pricing: p})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a)
	t.Cleanup(hs.Close)
	return &costEnv{e: e, admin: hs.URL}
}

func (c *costEnv) report(t *testing.T) cost.Report {
	t.Helper()
	r := send(t, "GET", c.admin+"/v1/cost", map[string]string{"Authorization": "Bearer " + adminToken}, "")
	if r.status != 200 {
		t.Fatalf("GET /v1/cost = %d %s", r.status, r.body)
	}
	var rep cost.Report
	if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
		t.Fatalf("GET /v1/cost body %q: %v", r.body, err)
	}
	return rep
}

// TestCostReportLive runs real invocations through the edge and checks the
// admin API reports them per function and per route.
func TestCostReportLive(t *testing.T) {
	p := cost.Pricing{PerMillionRequests: 0.2, PerGBSecond: 1.6e-5, ContainerPerHour: 0.05, ContainerRequestsPerSecond: 100}
	c := startCostEnv(t, &p)
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
	rep := c.report(t)
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
}

// TestCostPricingFollowsWorld checks that the prices in the current World
// win over AdminConfig.Pricing, and change when a World with new prices is
// swapped in (a reload) while route figures carry on.
func TestCostPricingFollowsWorld(t *testing.T) {
	static := cost.Pricing{PerMillionRequests: 1}
	c := startCostEnv(t, &static)
	send(t, "GET", "http://"+c.e.addr+"/fast", nil, "")
	if got := c.report(t).Pricing; got != static {
		t.Errorf("Pricing with no World prices = %+v, want AdminConfig's %+v", got, static)
	}
	ws := c.e.srv.world.Load()
	reloaded := cost.Pricing{PerMillionRequests: 7, PerGBSecond: 1, ContainerPerHour: 2, ContainerRequestsPerSecond: 3}
	next := *ws.w
	next.Pricing = &reloaded
	if c.e.srv.Swap(&next) == nil {
		t.Fatal("Swap refused the World")
	}
	rep := c.report(t)
	if rep.Pricing != reloaded {
		t.Errorf("Pricing after the swap = %+v, want %+v", rep.Pricing, reloaded)
	}
	if len(rep.Routes) == 0 || rep.Routes[0].Route != "iso" || rep.Routes[0].Invocations != 1 {
		t.Errorf("Routes after the swap = %+v, want iso's invocation kept", rep.Routes)
	}
	if u, ok := c.e.srv.RouteUsage("nope"); ok {
		t.Errorf("RouteUsage(%q) = %+v, true, want false", "nope", u)
	}
}
