package strangler_test

import (
	"fmt"

	"github.com/edged/edged/strangler"
)

func Example() {
	tab, err := strangler.NewTable([]strangler.Route{
		{Name: "site", Path: "/", Upstream: "monolith", Step: -1},
		{Name: "search", Path: "/api/search", Upstream: "monolith", Function: "search", Stage: strangler.StageShadow, Step: -1},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The controller moves search to a 5% canary; the change and its event commit together.
	_, err = tab.Update("search", strangler.Event{Kind: strangler.KindPromote, Actor: strangler.ActorController},
		func(r *strangler.Route) error {
			r.Stage, r.Weight, r.Step = strangler.StageCanary, 5, 0
			return nil
		})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The router matches against the current snapshot, without locks or allocations.
	snap := tab.Snapshot()
	for _, path := range []string{"/api/search", "/api/search/suggest", "/api/searchx"} {
		r, _ := snap.Lookup([]byte("www.example.com:443"), []byte(path), []byte("GET"))
		fmt.Printf("%s -> %s (%v %d%%)\n", path, r.Name, r.Stage, r.Weight)
	}
	for _, ev := range tab.Events(0, 10) {
		fmt.Printf("event %d: %s %s %v->%v by %s\n", ev.Seq, ev.Route, ev.Kind, ev.From, ev.To, ev.Actor)
	}
	// Output:
	// /api/search -> search (canary 5%)
	// /api/search/suggest -> search (canary 5%)
	// /api/searchx -> site (legacy 0%)
	// event 1: search promote shadow->canary by controller
}
