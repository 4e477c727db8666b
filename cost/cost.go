package cost

import (
	"math"
	"slices"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/strangler"
)

// Pricing holds the prices a Report compares functions and containers
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
// on, and Figures.LowData says so: a few requests in a burst say nothing
// about a month, and a minute is the shortest window a rate is read over.
const (
	MinInvocations = 100
	MinWindow      = time.Minute
)

// Report compares what functions cost with what always-on containers
// would cost, per function (from isolate.Usage, since the function was
// loaded: a reload starts a new window) and per route (measured by the
// router for the route's own invocations, since the Server started: route
// figures survive reloads).
type Report struct {
	// Pricing is the prices used.
	Pricing Pricing `json:"pricing"`
	// Functions holds one entry per function, by name.
	Functions []FunctionCost `json:"functions"`
	// Routes holds one entry per route that has a function, by route name.
	Routes []RouteCost `json:"routes"`
}

// Figures are the usage and prices a FunctionCost and a RouteCost share.
// Money is USD per month.
type Figures struct {
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
	// LowData is set when the figures cover fewer than MinInvocations
	// invocations or less than MinWindow: the monthly figures are then
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
	Figures
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
	Figures
}

// RouteUsage is a route's cumulative isolate use as its Meter measured it:
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

// Compute prices functions (usage by function name) and routes (usage
// by route name) with p. routes are the routes to report; a route without a
// Function is left out, and so is one whose function is not in functions
// and which has no usage of its own. It is pure arithmetic, safe for
// concurrent use.
func Compute(p Pricing, functions map[string]isolate.Usage, routes []strangler.Route,
	byRoute map[string]RouteUsage) Report {
	rep := Report{Pricing: p, Functions: []FunctionCost{}, Routes: []RouteCost{}}
	byFn := make(map[string][]string)
	for _, r := range routes {
		if _, ok := functions[r.Function]; ok && r.Function != "" {
			byFn[r.Function] = append(byFn[r.Function], r.Name)
		}
	}
	for name, u := range functions {
		fc := FunctionCost{Function: name, Routes: byFn[name], ExecMs: ms(u.Exec), Figures: priceUsage(p, u)}
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
		Figures: priceUsage(p, isolate.Usage{
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
func priceUsage(p Pricing, u isolate.Usage) Figures {
	capacity := p.ContainerRequestsPerSecond
	if capacity <= 0 {
		capacity = 1
	}
	fc := Figures{
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
	fc.LowData = u.Invocations < MinInvocations || u.Elapsed < MinWindow
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

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
