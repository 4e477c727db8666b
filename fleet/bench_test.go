package fleet_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/edged/edged/strangler"
)

// BenchmarkPropagation measures a route action made on node A until every
// node's table holds it (A's own included), three nodes each with its own
// connection to one embedded NATS server on loopback. It reports p50 and p99
// over b.N changes; run with -benchtime=100x for the 100 changes of the
// closing note.
func BenchmarkPropagation(b *testing.B) {
	ns := startNATSNode(b)
	var nodes []*fleetNode
	for _, name := range []string{"a", "b", "c"} {
		nodes = append(nodes, openNode(b, ns.url(), name, nodeOpts{}))
	}
	for _, n := range nodes {
		n.synced(b)
	}
	a := nodes[0]
	if _, err := a.promote(context.Background()); err != nil { // legacy -> canary 1
		b.Fatal(err)
	}
	for _, n := range nodes {
		n.waitRoute(b, "users", strangler.StageCanary, 1, patience)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		weight := 10 + i%2*10
		watches := make([]<-chan struct{}, len(nodes))
		for j, n := range nodes {
			watches[j] = n.table.Watch()
		}
		start := time.Now()
		if _, err := a.state.Move(context.Background(), "users", strangler.SetWeight(weight), strangler.Action{Actor: "bench"}); err != nil {
			b.Fatal(err)
		}
		for j, n := range nodes {
			for {
				if r, _ := n.table.Route("users"); r.Weight == weight {
					break
				}
				select {
				case <-watches[j]:
					watches[j] = n.table.Watch()
				case <-time.After(patience):
					b.Fatalf("%s did not apply weight %d", n.name, weight)
				}
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}
