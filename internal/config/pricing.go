package config

import (
	"math"
	"time"

	"github.com/edged/edged/limits"
)

// Pricing is [pricing], the prices the cost report (GET /v1/cost, `edged
// cost`) compares functions and containers with. Every key is optional; the
// defaults are illustrative list prices (a FaaS provider's x86 functions and
// a small always-on container), so set your own. The break-even utilization
// is computed from these prices, never configured.
type Pricing struct {
	// PerMillionRequests is the function price per million invocations, in
	// USD. Default 0.20; must be >= 0.
	PerMillionRequests float64 `toml:"per_million_requests"`
	// PerGBSecond is the function price per GB-second of memory-time (the
	// memory cap × billed duration), in USD. Default 0.0000166667; must be
	// >= 0.
	PerGBSecond float64 `toml:"per_gb_second"`
	// BillingGranularity is the unit each invocation's duration is rounded
	// up to. Default "1ms"; must be > 0.
	BillingGranularity limits.Duration `toml:"billing_granularity"`
	// ContainerPerHour is the price of one always-on container, in USD per
	// hour. Default 0.05; must be >= 0.
	ContainerPerHour float64 `toml:"container_per_hour"`
	// ContainerRequestsPerSecond is the request rate one container serves at
	// full utilization. Default 100; must be > 0.
	ContainerRequestsPerSecond float64 `toml:"container_requests_per_second"`
}

// Pricing defaults.
const (
	defaultPerMillionRequests = 0.20
	defaultPerGBSecond        = 0.0000166667
	defaultBillingGranularity = time.Millisecond
	defaultContainerPerHour   = 0.05
	defaultContainerRPS       = 100
)

func defaultPricing(c *Config, set map[string]bool) {
	p := &c.Pricing
	f := func(v *float64, path string, def float64) {
		if !set[path] {
			*v = def
		}
	}
	f(&p.PerMillionRequests, "pricing.per_million_requests", defaultPerMillionRequests)
	f(&p.PerGBSecond, "pricing.per_gb_second", defaultPerGBSecond)
	f(&p.ContainerPerHour, "pricing.container_per_hour", defaultContainerPerHour)
	f(&p.ContainerRequestsPerSecond, "pricing.container_requests_per_second", defaultContainerRPS)
	if !set["pricing.billing_granularity"] {
		p.BillingGranularity = limits.Duration(defaultBillingGranularity)
	}
}

func validatePricing(p *problems, pr *Pricing) {
	nonNeg := func(path string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			p.add(path, "must be a finite number >= 0")
		}
	}
	nonNeg("pricing.per_million_requests", pr.PerMillionRequests)
	nonNeg("pricing.per_gb_second", pr.PerGBSecond)
	nonNeg("pricing.container_per_hour", pr.ContainerPerHour)
	if v := pr.ContainerRequestsPerSecond; math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		p.add("pricing.container_requests_per_second", "must be a finite number > 0")
	}
	if pr.BillingGranularity <= 0 {
		p.add("pricing.billing_granularity", "must be > 0")
	}
}
