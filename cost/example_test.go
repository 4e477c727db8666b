package cost_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/edged/edged/cost"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/strangler"
)

// A route's Meter records each invocation of its function; Compute prices
// the route's usage against containers. Here 3000 invocations of 5ms over
// ten minutes, billed in 100ms units of a 128 MiB function; one in flight
// at a time for 5ms reads, by Little's law, as a peak of 200 req/s: two
// containers of 100.
func Example() {
	ctx := context.Background()
	rt, err := isolate.NewRuntime(ctx, isolate.RuntimeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(ctx)
	fn, err := rt.Load(ctx, isolate.Source{Path: "../examples/guests/hello-c/hello-c.wasm"}, isolate.FunctionOptions{
		Name: "api", BillingGranularity: 100 * time.Millisecond, Policy: limits.Policy{Memory: 128 * limits.MiB}})
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close(ctx)

	var m cost.Meter // one per route, on the request path
	for range 3000 {
		m.Begin()
		// What fn.Handle returned goes here: an invocation refused before
		// it ran (isolate.ErrPoolExhausted) is not billed.
		m.End(fn, 5*time.Millisecond, nil)
	}
	routes := []strangler.Route{{Name: "users", Function: "api", Stage: strangler.StageIsolate}}
	byRoute := map[string]cost.RouteUsage{"users": m.Usage(10 * time.Minute)}
	rep := cost.Compute(cost.DefaultPricing(), nil, routes, byRoute)
	r := rep.Routes[0]
	fmt.Printf("%s: %d invocations, billed %.0f s, %.1f GB-s\n", r.Route, r.Invocations, r.BilledMs/1000, r.GBSeconds)
	fmt.Printf("functions $%.2f/month, %d container(s) $%.2f/month, container cheaper: %v\n",
		r.FunctionMonthly, r.Containers, r.ContainerMonthly, r.ContainerCheaper)
	// Output:
	// users: 3000 invocations, billed 300 s, 37.5 GB-s
	// functions $5.29/month, 2 container(s) $73.00/month, container cheaper: false
}
