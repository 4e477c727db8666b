package router

import (
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/strangler"
)

// Pricing holds the prices a CostReport compares functions and containers
// with (router.toml's [pricing]). Prices are in USD. The zero value prices
// everything at 0; DefaultPricing has illustrative list prices.
type Pricing struct {
	// PerMillionRequests is the function price per million invocations.
	PerMillionRequests float64
	// PerGBSecond is the function price per GB-second of memory-time.
	PerGBSecond float64
	// ContainerPerHour is the price of one always-on container per hour.
	ContainerPerHour float64
	// ContainerRequestsPerSecond is the request rate one container serves at
	// full utilization; <= 0 is taken as 1.
	ContainerRequestsPerSecond float64
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

// CostReport compares what each function costs as functions with what it
// would cost on always-on containers, from its isolate.Usage. Every figure
// covers the function's life since it was loaded (a reload starts a new
// window).
type CostReport struct {
	// Pricing is the prices used.
	Pricing Pricing `json:"pricing"`
	// Functions holds one entry per function, by name.
	Functions []FunctionCost `json:"functions"`
	// Routes holds one entry per route served by a function, by route name.
	Routes []RouteCost `json:"routes"`
}

// FunctionCost is one function's usage and costs. Money is USD per month.
type FunctionCost struct {
	Function string `json:"function"`
	// Routes names the routes that use the function. Usage is measured per
	// function: routes sharing one share its figures.
	Routes      []string `json:"routes"`
	ElapsedSec  float64  `json:"elapsed_seconds"`
	Invocations uint64   `json:"invocations"`
	ExecMs      float64  `json:"exec_ms"`
	BilledMs    float64  `json:"billed_ms"`
	// GranularityMs is the billing unit each invocation was rounded up to.
	GranularityMs float64 `json:"granularity_ms"`
	MemoryMiB     float64 `json:"memory_mib"`
	GBSeconds     float64 `json:"gb_seconds"`
	// MeanRPS is invocations over the elapsed time; PeakRPS estimates the
	// peak rate from the peak concurrency by Little's law (peak in-flight ÷
	// mean invocation time), at least MeanRPS.
	MeanRPS         float64 `json:"mean_rps"`
	PeakRPS         float64 `json:"peak_rps"`
	PeakConcurrency int64   `json:"peak_concurrency"`
	MeanConcurrency float64 `json:"mean_concurrency"`
	// WarmUtilization is busy time ÷ instance time of the function's
	// instances, idle warm ones included (0..1).
	WarmUtilization float64 `json:"warm_utilization"`
	// FunctionMonthly is the observed rate extrapolated to 30 days at
	// function prices.
	FunctionMonthly float64 `json:"function_monthly_usd"`
	// Containers is ceil(PeakRPS ÷ container capacity), at least 1;
	// ContainerMonthly is their price over 730 hours.
	Containers       int     `json:"containers"`
	ContainerMonthly float64 `json:"container_monthly_usd"`
	// Utilization is the sustained load as a share of one container's
	// capacity (MeanRPS ÷ capacity; above 1 means more than one container's
	// worth).
	Utilization float64 `json:"utilization"`
	// BreakEven is the utilization of a container's capacity at which
	// functions cost as much as the container, from the prices and this
	// function's cost per request; nil when a request costs nothing or
	// nothing was invoked.
	BreakEven *float64 `json:"break_even_utilization"`
	// ContainerCheaper is set when Utilization passes BreakEven.
	ContainerCheaper bool `json:"container_cheaper"`
}

// RouteCost ties a route to its function's figures.
type RouteCost struct {
	Route    string `json:"route"`
	Stage    string `json:"stage"`
	Function string `json:"function"`
	// ContainerCheaper is the function's flag: this route's traffic (with
	// that of any route sharing the function) would be cheaper on containers.
	ContainerCheaper bool `json:"container_cheaper"`
}

// ComputeCost prices usages (by function name) with p. routes are the routes
// to attribute; those without a Function or whose function is not in usages
// are left out. It is pure arithmetic, safe for concurrent use.
func ComputeCost(p Pricing, usages map[string]isolate.Usage, routes []strangler.Route) CostReport {
	rep := CostReport{Pricing: p, Functions: []FunctionCost{}, Routes: []RouteCost{}}
	byFn := make(map[string][]string)
	for _, r := range routes {
		if _, ok := usages[r.Function]; ok && r.Function != "" {
			byFn[r.Function] = append(byFn[r.Function], r.Name)
		}
	}
	flags := make(map[string]bool, len(usages))
	for name, u := range usages {
		fc := priceFunction(p, u)
		fc.Function = name
		fc.Routes = byFn[name]
		slices.Sort(fc.Routes)
		if fc.Routes == nil {
			fc.Routes = []string{}
		}
		flags[name] = fc.ContainerCheaper
		rep.Functions = append(rep.Functions, fc)
	}
	slices.SortFunc(rep.Functions, func(a, b FunctionCost) int { return cmpString(a.Function, b.Function) })
	for _, r := range routes {
		if _, ok := usages[r.Function]; !ok || r.Function == "" {
			continue
		}
		rep.Routes = append(rep.Routes, RouteCost{Route: r.Name, Stage: r.Stage.String(), Function: r.Function,
			ContainerCheaper: flags[r.Function]})
	}
	slices.SortFunc(rep.Routes, func(a, b RouteCost) int { return cmpString(a.Route, b.Route) })
	return rep
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

// priceFunction does the arithmetic for one function.
func priceFunction(p Pricing, u isolate.Usage) FunctionCost {
	capacity := p.ContainerRequestsPerSecond
	if capacity <= 0 {
		capacity = 1
	}
	fc := FunctionCost{
		ElapsedSec:      u.Elapsed.Seconds(),
		Invocations:     u.Invocations,
		ExecMs:          ms(u.Exec),
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
		meanLatency := u.InFlightTime.Seconds() / float64(u.Invocations)
		fc.PeakRPS = max(fc.MeanRPS, float64(u.PeakInFlight)/meanLatency)
	}
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
		fc.ContainerCheaper = fc.Utilization > be
	}
	return fc
}

// CostReport prices the usage of the current World's functions with p,
// attributing them to table's routes (nil: no routes).
func (s *Server) CostReport(p Pricing, table *strangler.Table) CostReport {
	ws := s.world.Load()
	usages := make(map[string]isolate.Usage)
	if ws != nil {
		for name, f := range ws.w.Functions {
			if f != nil {
				usages[name] = f.Usage()
			}
		}
	}
	var routes []strangler.Route
	if table != nil {
		routes = table.Routes()
	}
	return ComputeCost(p, usages, routes)
}

// cost serves GET /v1/cost.
func (a *Admin) cost(w http.ResponseWriter, _ *http.Request) {
	p := DefaultPricing()
	if a.c.Pricing != nil {
		p = *a.c.Pricing
	}
	if a.c.Server == nil {
		writeJSON(w, http.StatusOK, ComputeCost(p, nil, nil))
		return
	}
	writeJSON(w, http.StatusOK, a.c.Server.CostReport(p, a.c.Table))
}
