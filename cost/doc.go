// Package cost measures what a route's isolate invocations would cost on a
// FaaS platform and compares it with always-on containers.
//
// A Meter counts one route's invocations the way a provider bills them: wall
// time rounded up to the function's billing granularity, and billed time ×
// memory cap as memory-time. Recording is a few atomic adds, no lock and no
// allocation, so the router calls it on every request. Compute then prices
// the usage of functions (isolate.Usage) and of routes (RouteUsage) with a
// Pricing into a Report: per month at function prices, the containers the
// observed peak would need, and the utilization at which a container becomes
// cheaper. Compute is pure arithmetic; the router gathers its inputs
// (router.Server.CostReport) and the admin API serves the result as
// GET /v1/cost.
//
// The Meter lives here, not in the router, because it needs nothing of the
// router (only the function it bills and the errors that are not billed):
// the router holds one per route and calls Begin and End around each
// invocation, at the same cost as before the move (Begin inlines; no
// allocation either way), and the meter's tests and benchmark run without a
// Server.
//
// The package sits beside the router's other inputs: it imports isolate (for
// isolate.Usage, isolate.Function and the invocation errors that are not
// billed) and strangler (for the routes a Report names), and nothing else of
// edged.
package cost
