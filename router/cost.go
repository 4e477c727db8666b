package router

import (
	"errors"
	"math"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/strangler"
)

// Pricing holds the prices a CostReport compares functions and containers
// with (router.toml's [pricing]). Prices are in USD. The zero value prices
// everything at 0; DefaultPricing has illustrative list prices.
type Pricing struct {
	// PerMillionRequests is the function price per million invocations.
	PerMillionRequests float64 `json:"per_million_requests"`
	// PerGBSecond is the function price per GB-second of memory-time.
	PerGBSecond float64 `json:"per_gb_second"`
	// ContainerPerHour is the price of one always-on container per hour.
	ContainerPerHour float64 `json:"container_per_hour"`
	// ContainerRequestsPerSecond is the request rate one container serves at
	// full utilization; <= 0 is taken as 1.
	ContainerRequestsPerSecond float64 `json:"container_requests_per_second"`
}

// DefaultPricing returns the defaults of router.toml's [pricing].
func DefaultPricing() Pricing {
	return Pricing{PerMillionRequests: 0.20, PerGBSecond: 0.0000166667, ContainerPerHour: 0.05, ContainerRequestsPerSecond: 100}
}

// Cost report periods: functions extrapolate the observed rate to a 30-day
// month; an always-on container is billed 730 hours a month, as cloud
// price sheets count it.
const (
	functionMonth  = 30 * 24 * time.Hour
	containerHours = 730
)

// Below these, a cost report's figures are extrapolated from too little to go
// on, and CostFigures.LowData says so: a few requests in a burst say nothing
// about a month, and a minute is the shortest window a rate is read over.
const (
	CostMinInvocations = 100
	CostMinWindow      = time.Minute
)

// CostReport compares what functions cost with what always-on containers
// would cost, per function (from isolate.Usage, since the function was
// loaded: a reload starts a new window) and per route (measured by the
// router for the route's own invocations, since the Server started: route
// figures survive reloads).
type CostReport struct {
	// Pricing is the prices used.
	Pricing Pricing `json:"pricing"`
	// Functions holds one entry per function, by name.
	Functions []FunctionCost `json:"functions"`
	// Routes holds one entry per route that has a function, by route name.
	Routes []RouteCost `json:"routes"`
}

// CostFigures are the usage and prices a FunctionCost and a RouteCost share.
// Money is USD per month.
type CostFigures struct {
	// ElapsedSec is the window the figures cover.
	ElapsedSec  float64 `json:"elapsed_seconds"`
	Invocations uint64  `json:"invocations"`
	// BilledMs is the summed time of the invocations, each rounded up to
	// GranularityMs, the billing unit.
	BilledMs      float64 `json:"billed_ms"`
	GranularityMs float64 `json:"granularity_ms"`
	// MemoryMiB is the function's memory cap; GBSeconds sums billed time ×
	// the cap of each invocation.
	MemoryMiB float64 `json:"memory_mib"`
	GBSeconds float64 `json:"gb_seconds"`
	// MeanRPS is invocations over the elapsed time; PeakRPS estimates the
	// peak rate from the peak concurrency by Little's law (peak in-flight ÷
	// mean invocation time), but never above the invocations observed in all
	// (no second can hold more requests than were made) and never below
	// MeanRPS.
	MeanRPS         float64 `json:"mean_rps"`
	PeakRPS         float64 `json:"peak_rps"`
	PeakConcurrency int64   `json:"peak_concurrency"`
	MeanConcurrency float64 `json:"mean_concurrency"`
	// WarmUtilization is busy time ÷ instance time of the function's
	// instances, idle warm ones included (0..1). Instances are per
	// function, so a route reports its function's.
	WarmUtilization float64 `json:"warm_utilization"`
	// FunctionMonthly is the observed rate extrapolated to 30 days at
	// function prices.
	FunctionMonthly float64 `json:"function_monthly_usd"`
	// Containers is ceil(PeakRPS ÷ container capacity), at least 1, so
	// never more than the observed requests could keep busy for a second;
	// ContainerMonthly is their price over 730 hours.
	Containers       int     `json:"containers"`
	ContainerMonthly float64 `json:"container_monthly_usd"`
	// Utilization is the sustained load as a share of one container's
	// capacity (MeanRPS ÷ capacity; above 1 means more than one container's
	// worth).
	Utilization float64 `json:"utilization"`
	// BreakEven is the utilization of a container's capacity at which
	// functions cost as much as the container, from the prices and the cost
	// per request; nil when a request costs nothing or nothing was invoked.
	BreakEven *float64 `json:"break_even_utilization"`
	// ContainerCheaper is set when Utilization passes BreakEven, and the
	// figures rest on enough data (LowData is false).
	ContainerCheaper bool `json:"container_cheaper"`
	// LowData is set when the figures cover fewer than CostMinInvocations
	// invocations or less than CostMinWindow: the monthly figures are then
	// extrapolated from too little to be relied on, and no verdict is given.
	LowData bool `json:"low_data"`
}

// FunctionCost is one function's usage and costs, from its isolate.Usage:
// guest execution time, since the function was loaded.
type FunctionCost struct {
	Function string `json:"function"`
	// Routes names the routes that use the function. Usage is measured per
	// function: routes sharing one share its figures.
	Routes []string `json:"routes"`
	// ExecMs is the summed guest execution time, before rounding.
	ExecMs float64 `json:"exec_ms"`
	CostFigures
}

// RouteCost is one route's usage and costs, measured by the router for the
// invocations made on the route's behalf (see RouteUsage): wall time of each
// invocation, since the Server started.
type RouteCost struct {
	Route    string `json:"route"`
	Stage    string `json:"stage"`
	Function string `json:"function"`
	// Mirrored counts the invocations that were shadow mirrors.
	Mirrored uint64 `json:"mirrored"`
	// WallMs is the summed wall time of the invocations, before rounding.
	WallMs float64 `json:"wall_ms"`
	CostFigures
}

// RouteUsage is a route's cumulative isolate use as the router measured it:
// every invocation of the route's function made for the route (the isolate
// and canary stages, and shadow mirrors) adds its wall time, rounded up to
// the function's billing granularity the way FaaS providers bill a
// function's duration, and billed time × the function's memory cap as
// memory-time. Wall time includes what the function waits for (its fetch
// subrequests, the pool queue, and for a guest that calls "next" the
// upstream), as a provider bills a function that waits; an invocation
// refused before it ran (pool exhausted, function closed) is not billed.
type RouteUsage struct {
	// Elapsed is the window: the Server's life so far.
	Elapsed time.Duration
	// Invocations counts billed invocations, Mirrored the shadow mirrors
	// among them.
	Invocations, Mirrored uint64
	// Wall is the summed wall time of the invocations: the integral of
	// in-flight invocations over time. Billed is Wall rounded up per
	// invocation.
	Wall, Billed time.Duration
	// Granularity and MemoryBytes are those of the function at the latest
	// invocation.
	Granularity time.Duration
	MemoryBytes uint64
	// GBSeconds is the summed billed time × memory cap, in GiB-seconds.
	GBSeconds float64
	// InFlight is the invocations running now; PeakInFlight the most at
	// once.
	InFlight, PeakInFlight int64
	// MeanConcurrency is Wall / Elapsed.
	MeanConcurrency float64
}

// routeCost holds the atomics behind a route's RouteUsage. Recording an
// invocation is a handful of atomic adds: no lock, no allocation (except the
// first invocation after the route's function changed, see rebind).
type routeCost struct {
	inFlight, peak atomic.Int64
	invocations    atomic.Uint64
	mirrored       atomic.Uint64
	wallNanos      atomic.Int64
	billedNanos    atomic.Int64
	gbSeconds      atomic.Uint64 // float64 bits; a float cannot overflow where page-ns would
	bill           atomic.Pointer[billing]
}

// billing is what rounding and memory-time need from a function, cached so
// the hot path does not read the function's whole Usage.
type billing struct {
	fn          *isolate.Function
	granularity int64  // ns, > 0
	memBytes    uint64 // the function's memory cap
}

// begin records an invocation starting.
func (c *routeCost) begin() {
	n := c.inFlight.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// end records the end of the invocation of f that begin started: d is its
// wall time, err what Handle returned.
func (c *routeCost) end(f *isolate.Function, d time.Duration, err error) {
	c.inFlight.Add(-1)
	if err != nil && notRun(err) {
		return
	}
	c.add(f, d)
}

// endMirror is end for a shadow mirror.
func (c *routeCost) endMirror(f *isolate.Function, d time.Duration, err error) {
	c.inFlight.Add(-1)
	if err != nil && notRun(err) {
		return
	}
	c.mirrored.Add(1)
	c.add(f, d)
}

// notRun reports whether err means the invocation never ran guest code, so a
// provider would not bill it (a throttle, or a function already closed).
func notRun(err error) bool {
	return errors.Is(err, isolate.ErrPoolExhausted) || errors.Is(err, isolate.ErrClosed)
}

func (c *routeCost) add(f *isolate.Function, d time.Duration) {
	b := c.bill.Load()
	if b == nil || b.fn != f {
		b = c.rebind(f)
	}
	bn := billedNanos(int64(d), b.granularity)
	c.invocations.Add(1)
	c.wallNanos.Add(int64(max(d, 0)))
	c.billedNanos.Add(bn)
	addFloat(&c.gbSeconds, float64(bn)/1e9*float64(b.memBytes)/(1<<30))
}

// rebind caches f's billing figures. It runs when the route's function
// changes (a reload); while old and new Worlds overlap it may run more than
// once, each time with the right figures for its f.
func (c *routeCost) rebind(f *isolate.Function) *billing {
	u := f.Usage()
	b := &billing{fn: f, granularity: int64(max(u.Granularity, 1)), memBytes: u.MemoryBytes}
	c.bill.Store(b)
	return b
}

// billedNanos rounds d up to a multiple of g (g > 0), as FaaS providers
// round a function's duration up to their billing increment.
func billedNanos(d, g int64) int64 {
	if d <= 0 {
		return 0
	}
	return (d + g - 1) / g * g
}

// addFloat adds v to the float64 whose bits u holds.
func addFloat(u *atomic.Uint64, v float64) {
	for {
		old := u.Load()
		if u.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// usage reads the counters; elapsed is the window they cover.
func (c *routeCost) usage(elapsed time.Duration) RouteUsage {
	u := RouteUsage{
		Elapsed:      elapsed,
		Invocations:  c.invocations.Load(),
		Mirrored:     c.mirrored.Load(),
		Wall:         time.Duration(c.wallNanos.Load()),
		Billed:       time.Duration(c.billedNanos.Load()),
		GBSeconds:    math.Float64frombits(c.gbSeconds.Load()),
		InFlight:     c.inFlight.Load(),
		PeakInFlight: c.peak.Load(),
	}
	if b := c.bill.Load(); b != nil {
		u.Granularity, u.MemoryBytes = time.Duration(b.granularity), b.memBytes
	}
	if elapsed > 0 {
		u.MeanConcurrency = float64(u.Wall) / float64(elapsed)
	}
	return u
}

// RouteUsage returns the named route's usage as the router measured it, and
// false when the route has not been served yet. Safe for concurrent use
// with the request path.
func (s *Server) RouteUsage(name string) (RouteUsage, bool) {
	rs, ok := (*s.states.Load())[name]
	if !ok {
		return RouteUsage{}, false
	}
	return rs.cost.usage(s.mono()), true
}

// ComputeCost prices functions (usage by function name) and routes (usage
// by route name) with p. routes are the routes to report; a route without a
// Function is left out, and so is one whose function is not in functions
// and which has no usage of its own. It is pure arithmetic, safe for
// concurrent use.
func ComputeCost(p Pricing, functions map[string]isolate.Usage, routes []strangler.Route,
	byRoute map[string]RouteUsage) CostReport {
	rep := CostReport{Pricing: p, Functions: []FunctionCost{}, Routes: []RouteCost{}}
	byFn := make(map[string][]string)
	for _, r := range routes {
		if _, ok := functions[r.Function]; ok && r.Function != "" {
			byFn[r.Function] = append(byFn[r.Function], r.Name)
		}
	}
	for name, u := range functions {
		fc := FunctionCost{Function: name, Routes: byFn[name], ExecMs: ms(u.Exec), CostFigures: priceUsage(p, u)}
		slices.Sort(fc.Routes)
		if fc.Routes == nil {
			fc.Routes = []string{}
		}
		rep.Functions = append(rep.Functions, fc)
	}
	slices.SortFunc(rep.Functions, func(a, b FunctionCost) int { return cmpString(a.Function, b.Function) })
	for _, r := range routes {
		fu, loaded := functions[r.Function]
		ru, used := byRoute[r.Name]
		if r.Function == "" || !loaded && !used {
			continue
		}
		rep.Routes = append(rep.Routes, priceRoute(p, r, ru, fu))
	}
	slices.SortFunc(rep.Routes, func(a, b RouteCost) int { return cmpString(a.Route, b.Route) })
	return rep
}

// priceRoute prices a route's own usage ru; fu is its function's, for the
// warm-instance utilization.
func priceRoute(p Pricing, r strangler.Route, ru RouteUsage, fu isolate.Usage) RouteCost {
	return RouteCost{
		Route: r.Name, Stage: r.Stage.String(), Function: r.Function, Mirrored: ru.Mirrored, WallMs: ms(ru.Wall),
		CostFigures: priceUsage(p, isolate.Usage{
			Elapsed: ru.Elapsed, Invocations: ru.Invocations, Exec: ru.Wall, Billed: ru.Billed,
			Granularity: ru.Granularity, MemoryBytes: ru.MemoryBytes, GBSeconds: ru.GBSeconds,
			InFlight: ru.InFlight, PeakInFlight: ru.PeakInFlight, InFlightTime: ru.Wall,
			MeanConcurrency: ru.MeanConcurrency, Utilization: fu.Utilization,
		}),
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// priceUsage does the arithmetic for one function's or route's usage.
func priceUsage(p Pricing, u isolate.Usage) CostFigures {
	capacity := p.ContainerRequestsPerSecond
	if capacity <= 0 {
		capacity = 1
	}
	fc := CostFigures{
		ElapsedSec:      u.Elapsed.Seconds(),
		Invocations:     u.Invocations,
		BilledMs:        ms(u.Billed),
		GranularityMs:   ms(u.Granularity),
		MemoryMiB:       float64(u.MemoryBytes) / (1 << 20),
		GBSeconds:       u.GBSeconds,
		PeakConcurrency: u.PeakInFlight,
		MeanConcurrency: u.MeanConcurrency,
		WarmUtilization: u.Utilization,
	}
	if u.Elapsed > 0 {
		fc.MeanRPS = float64(u.Invocations) / u.Elapsed.Seconds()
	}
	fc.PeakRPS = fc.MeanRPS
	if u.InFlightTime > 0 && u.Invocations > 0 {
		// Little's law reads a burst of a few fast requests as a rate of
		// thousands per second; a container is sized for a rate held for
		// at least a second, and no second held more than every request.
		meanLatency := u.InFlightTime.Seconds() / float64(u.Invocations)
		little := float64(u.PeakInFlight) / meanLatency
		fc.PeakRPS = max(fc.MeanRPS, min(little, float64(u.Invocations)))
	}
	fc.LowData = u.Invocations < CostMinInvocations || u.Elapsed < CostMinWindow
	// Cost per request: the request price plus its share of memory-time.
	perRequest := p.PerMillionRequests / 1e6
	if u.Invocations > 0 {
		perRequest += u.GBSeconds / float64(u.Invocations) * p.PerGBSecond
	}
	month := functionMonth.Seconds()
	fc.FunctionMonthly = fc.MeanRPS * month * perRequest
	fc.Containers = max(1, int(math.Ceil(fc.PeakRPS/capacity)))
	oneContainer := p.ContainerPerHour * containerHours
	fc.ContainerMonthly = float64(fc.Containers) * oneContainer
	fc.Utilization = fc.MeanRPS / capacity
	// Break-even: the rate r at which r × month × perRequest equals one
	// container's monthly price, as a share of that container's capacity.
	// Both sides are linear in the rate, so it holds for n containers too.
	if perRequest > 0 && u.Invocations > 0 {
		be := oneContainer / (month * perRequest) / capacity
		fc.BreakEven = &be
		fc.ContainerCheaper = fc.Utilization > be && !fc.LowData
	}
	return fc
}

// CostReport prices, with p, the usage of the current World's functions and
// that of table's routes (nil: no routes) as the router measured it.
func (s *Server) CostReport(p Pricing, table *strangler.Table) CostReport {
	ws := s.world.Load()
	functions := make(map[string]isolate.Usage)
	if ws != nil {
		for name, f := range ws.w.Functions {
			if f != nil {
				functions[name] = f.Usage()
			}
		}
	}
	var routes []strangler.Route
	byRoute := make(map[string]RouteUsage)
	if table != nil {
		routes = table.Routes()
		for _, r := range routes {
			if u, ok := s.RouteUsage(r.Name); ok {
				byRoute[r.Name] = u
			}
		}
	}
	return ComputeCost(p, functions, routes, byRoute)
}

// pricing returns the prices of the current World, or false when it has
// none.
func (s *Server) pricing() (Pricing, bool) {
	if ws := s.world.Load(); ws != nil && ws.w.Pricing != nil {
		return *ws.w.Pricing, true
	}
	return Pricing{}, false
}

// cost serves GET /v1/cost, priced with the current World's Pricing, else
// AdminConfig.Pricing, else DefaultPricing: prices follow a reload with the
// World that carries them.
func (a *Admin) cost(w http.ResponseWriter, _ *http.Request) {
	p := DefaultPricing()
	if a.c.Pricing != nil {
		p = *a.c.Pricing
	}
	if a.c.Server == nil {
		writeJSON(w, http.StatusOK, ComputeCost(p, nil, nil, nil))
		return
	}
	if wp, ok := a.c.Server.pricing(); ok {
		p = wp
	}
	writeJSON(w, http.StatusOK, a.c.Server.CostReport(p, a.c.Table))
}
