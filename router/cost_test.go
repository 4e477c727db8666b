package router

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"
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

func TestComputeCostRoutes(t *testing.T) {
	usages := map[string]isolate.Usage{
		"b": {Elapsed: time.Second, Invocations: 1},
		"a": {Elapsed: time.Second},
	}
	routes := []strangler.Route{
		{Name: "z", Function: "b"}, {Name: "y", Function: "b"}, {Name: "legacy"},
		{Name: "gone", Function: "missing"},
	}
	rep := ComputeCost(DefaultPricing(), usages, routes, nil)
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

func TestBilledNanos(t *testing.T) {
	ms := int64(time.Millisecond)
	tests := []struct {
		name string
		d, g int64
		want int64
	}{
		{"zero is free", 0, ms, 0},
		{"negative is free", -5, ms, 0},
		{"a nanosecond bills a whole unit", 1, ms, ms},
		{"just under a unit", ms - 1, ms, ms},
		{"exactly a unit", ms, ms, ms},
		{"just over a unit", ms + 1, ms, 2 * ms},
		{"100ms increments", 250 * ms, 100 * ms, 300 * ms},
		{"1ns increments bill exactly", 12345, 1, 12345},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := billedNanos(tc.d, tc.g); got != tc.want {
				t.Errorf("billedNanos(%d, %d) = %d, want %d", tc.d, tc.g, got, tc.want)
			}
		})
	}
}

// TestRouteCostAccounting feeds invocations to a route's accounting with a
// known billing unit and memory cap and checks what it sums.
func TestRouteCostAccounting(t *testing.T) {
	type call struct {
		d      time.Duration
		mirror bool
		err    error
	}
	const mib = 1 << 20
	tests := []struct {
		name        string
		granularity time.Duration
		memBytes    uint64
		calls       []call
		invocations uint64
		mirrored    uint64
		wall        time.Duration
		billed      time.Duration
		gbSeconds   float64
	}{
		{
			name: "rounded up per invocation, not in total", granularity: time.Millisecond, memBytes: 128 * mib,
			calls:       []call{{d: 300 * time.Microsecond}, {d: 300 * time.Microsecond}, {d: 1500 * time.Microsecond}},
			invocations: 3, wall: 2100 * time.Microsecond, billed: 4 * time.Millisecond,
			gbSeconds: 0.004 * 0.125,
		},
		{
			name: "100ms increments, 1 GiB", granularity: 100 * time.Millisecond, memBytes: 1024 * mib,
			calls:       []call{{d: 10 * time.Millisecond}, {d: 250 * time.Millisecond}},
			invocations: 2, wall: 260 * time.Millisecond, billed: 400 * time.Millisecond, gbSeconds: 0.4,
		},
		{
			name: "mirrors count and are marked", granularity: time.Millisecond, memBytes: 64 * mib,
			calls:       []call{{d: time.Millisecond}, {d: time.Millisecond, mirror: true}},
			invocations: 2, mirrored: 1, wall: 2 * time.Millisecond, billed: 2 * time.Millisecond,
			gbSeconds: 0.002 / 16,
		},
		{
			name: "failed invocations are billed", granularity: time.Millisecond, memBytes: 64 * mib,
			calls:       []call{{d: 5 * time.Millisecond, err: isolate.ErrDeadline}, {d: 10, err: isolate.ErrTrap}},
			invocations: 2, wall: 5*time.Millisecond + 10, billed: 6 * time.Millisecond, gbSeconds: 0.006 / 16,
		},
		{
			name: "refused before running: not billed", granularity: time.Millisecond, memBytes: 64 * mib,
			calls: []call{
				{d: time.Millisecond, err: &isolate.InvokeError{Kind: isolate.ErrPoolExhausted}},
				{d: time.Millisecond, err: isolate.ErrClosed, mirror: true},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c routeCost
			// A nil function with its billing cached: no guest needed.
			c.bill.Store(&billing{granularity: int64(tc.granularity), memBytes: tc.memBytes})
			for _, cl := range tc.calls {
				c.begin()
				if cl.mirror {
					c.endMirror(nil, cl.d, cl.err)
				} else {
					c.end(nil, cl.d, cl.err)
				}
			}
			u := c.usage(time.Second)
			if u.Invocations != tc.invocations || u.Mirrored != tc.mirrored {
				t.Errorf("Invocations, Mirrored = %d, %d, want %d, %d", u.Invocations, u.Mirrored, tc.invocations, tc.mirrored)
			}
			if u.Wall != tc.wall || u.Billed != tc.billed {
				t.Errorf("Wall, Billed = %v, %v, want %v, %v", u.Wall, u.Billed, tc.wall, tc.billed)
			}
			if !near(u.GBSeconds, tc.gbSeconds) {
				t.Errorf("GBSeconds = %v, want %v", u.GBSeconds, tc.gbSeconds)
			}
			if u.Granularity != tc.granularity || u.MemoryBytes != tc.memBytes {
				t.Errorf("Granularity, MemoryBytes = %v, %d, want %v, %d", u.Granularity, u.MemoryBytes, tc.granularity, tc.memBytes)
			}
			if u.InFlight != 0 {
				t.Errorf("InFlight = %d after every invocation ended, want 0", u.InFlight)
			}
		})
	}
}

// TestRouteCostConcurrency plays begin/end schedules and checks the peak,
// the in-flight count and the mean concurrency (summed wall time over the
// window).
func TestRouteCostConcurrency(t *testing.T) {
	tests := []struct {
		name string
		// steps: +1 begins an invocation, a negative number ends one that
		// ran for that many milliseconds.
		steps    []int
		peak     int64
		inFlight int64
		mean     float64 // over a 100ms window
	}{
		{"none", nil, 0, 0, 0},
		{"one at a time", []int{1, -10, 1, -10, 1, -10}, 1, 0, 0.3},
		{"three overlapping", []int{1, 1, 1, -50, -50, -50}, 3, 0, 1.5},
		{"peak stays after the dip", []int{1, 1, -20, -20, 1, -20}, 2, 0, 0.6},
		{"still running", []int{1, 1, 1, -10}, 3, 2, 0.1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c routeCost
			c.bill.Store(&billing{granularity: int64(time.Millisecond), memBytes: 1 << 30})
			for _, s := range tc.steps {
				if s > 0 {
					c.begin()
				} else {
					c.end(nil, time.Duration(-s)*time.Millisecond, nil)
				}
			}
			u := c.usage(100 * time.Millisecond)
			if u.PeakInFlight != tc.peak || u.InFlight != tc.inFlight {
				t.Errorf("PeakInFlight, InFlight = %d, %d, want %d, %d", u.PeakInFlight, u.InFlight, tc.peak, tc.inFlight)
			}
			if !near(u.MeanConcurrency, tc.mean) {
				t.Errorf("MeanConcurrency = %v, want %v", u.MeanConcurrency, tc.mean)
			}
		})
	}
}

// TestRouteCostHammer records from many goroutines at once: nothing is lost
// and the peak never passes the number of goroutines.
func TestRouteCostHammer(t *testing.T) {
	const workers, each = 8, 500
	var c routeCost
	c.bill.Store(&billing{granularity: int64(time.Millisecond), memBytes: 1 << 30})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				c.begin()
				c.end(nil, time.Millisecond, nil)
			}
		})
	}
	wg.Wait()
	u := c.usage(time.Second)
	if u.Invocations != workers*each || u.InFlight != 0 || u.PeakInFlight < 1 || u.PeakInFlight > workers {
		t.Errorf("usage = %+v, want %d invocations, 0 in flight, peak in 1..%d", u, workers*each, workers)
	}
	if want := float64(workers*each) * 0.001; !near(u.GBSeconds, want) {
		t.Errorf("GBSeconds = %v, want %v", u.GBSeconds, want)
	}
}

// TestRouteCostRebind checks that the billing unit and memory cap come from
// the route's function, and follow it when a reload changes the function.
func TestRouteCostRebind(t *testing.T) {
	a := loadFunction(t, guestHelloC, isolate.FunctionOptions{Name: "a", BillingGranularity: 100 * time.Millisecond,
		Policy: limits.Policy{Memory: 2 * limits.MiB}})
	b := loadFunction(t, guestHelloC, isolate.FunctionOptions{Name: "b", BillingGranularity: time.Millisecond,
		Policy: limits.Policy{Memory: 4 * limits.MiB}})
	var c routeCost
	c.begin()
	c.end(a, time.Millisecond, nil)
	if u := c.usage(time.Second); u.Billed != 100*time.Millisecond || u.MemoryBytes != 2<<20 {
		t.Errorf("after a: Billed, MemoryBytes = %v, %d, want 100ms, %d", u.Billed, u.MemoryBytes, 2<<20)
	}
	c.begin()
	c.end(b, time.Millisecond, nil)
	u := c.usage(time.Second)
	if u.Billed != 101*time.Millisecond || u.MemoryBytes != 4<<20 || u.Granularity != time.Millisecond {
		t.Errorf("after b: Billed, MemoryBytes, Granularity = %v, %d, %v, want 101ms, %d, 1ms", u.Billed, u.MemoryBytes, u.Granularity, 4<<20)
	}
	// Each invocation's memory-time uses its own function's cap.
	if want := 0.1*2/1024 + 0.001*4/1024; !near(u.GBSeconds, want) {
		t.Errorf("GBSeconds = %v, want %v", u.GBSeconds, want)
	}
}

// TestComputeCostPerRoute checks that routes sharing a function are priced
// from their own usage, and flagged on their own.
func TestComputeCostPerRoute(t *testing.T) {
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
	rep := ComputeCost(p, functions, routes, byRoute)
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

// costEnv is a live edge with a shared function on two routes and a shadow
// route, and the admin API in front of its Server.
type costEnv struct {
	e     *edge
	admin string
}

func startCostEnv(t *testing.T, p *Pricing) *costEnv {
	t.Helper()
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{BillingGranularity: 10 * time.Millisecond})
	ln := startUpstream(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("Hello from C\n") })
	up := newUpstream(t, ln.Addr().String(), proxy.Options{})
	e := startEdge(t, []strangler.Route{
		{Name: "iso", Path: "/fast", Function: "hello", Stage: strangler.StageRetired},
		{Name: "other", Path: "/other", Function: "hello", Stage: strangler.StageRetired},
		{Name: "shadowed", Path: "/shadow", Function: "hello", Upstream: "up", Stage: strangler.StageShadow},
		{Name: "legacy", Path: "/legacy", Upstream: "up"},
	}, &World{Functions: map[string]*isolate.Function{"hello": hello}, Upstreams: map[string]*proxy.Upstream{"up": up}})
	a, err := NewAdmin(AdminConfig{Table: e.table, Server: e.srv, Token: []byte(adminToken), Pricing: p})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a)
	t.Cleanup(hs.Close)
	return &costEnv{e: e, admin: hs.URL}
}

func (c *costEnv) report(t *testing.T) CostReport {
	t.Helper()
	r := send(t, "GET", c.admin+"/v1/cost", map[string]string{"Authorization": "Bearer " + adminToken}, "")
	if r.status != 200 {
		t.Fatalf("GET /v1/cost = %d %s", r.status, r.body)
	}
	var rep CostReport
	if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
		t.Fatalf("GET /v1/cost body %q: %v", r.body, err)
	}
	return rep
}

// TestCostReportLive runs real invocations through the edge and checks the
// admin API reports them per function and per route.
func TestCostReportLive(t *testing.T) {
	p := Pricing{PerMillionRequests: 0.2, PerGBSecond: 1.6e-5, ContainerPerHour: 0.05, ContainerRequestsPerSecond: 100}
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
	static := Pricing{PerMillionRequests: 1}
	c := startCostEnv(t, &static)
	send(t, "GET", "http://"+c.e.addr+"/fast", nil, "")
	if got := c.report(t).Pricing; got != static {
		t.Errorf("Pricing with no World prices = %+v, want AdminConfig's %+v", got, static)
	}
	ws := c.e.srv.world.Load()
	reloaded := Pricing{PerMillionRequests: 7, PerGBSecond: 1, ContainerPerHour: 2, ContainerRequestsPerSecond: 3}
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

// BenchmarkRouteCost is the per-invocation cost of the route accounting,
// from one goroutine and from all of them at once on one route (the
// contended case: every core on the same cache line).
func BenchmarkRouteCost(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		var c routeCost
		c.bill.Store(&billing{granularity: int64(time.Millisecond), memBytes: 64 << 20})
		b.ReportAllocs()
		for b.Loop() {
			c.begin()
			c.end(nil, 300*time.Microsecond, nil)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var c routeCost
		c.bill.Store(&billing{granularity: int64(time.Millisecond), memBytes: 64 << 20})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.begin()
				c.end(nil, 300*time.Microsecond, nil)
			}
		})
	})
}
