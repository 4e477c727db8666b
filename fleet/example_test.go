package fleet_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/edged/edged/events"
	"github.com/edged/edged/fleet"
	"github.com/edged/edged/strangler"
)

// Two nodes share one route state: a promotion made on node a is applied by
// node b. Here both use the connection of one embedded NATS server; in a
// fleet each node has its own ([events] url, or a cluster of embedded
// servers).
func ExampleOpenState() {
	dir, _ := os.MkdirTemp("", "fleet-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	srv, err := events.Open(ctx, events.Options{StoreDir: dir, Sync: events.SyncInterval})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close(ctx)

	open := func(node string) (*strangler.Table, *fleet.State) {
		table, _ := strangler.NewTable([]strangler.Route{
			{Name: "users", Path: "/users", Upstream: "mono", Function: "users", Step: -1},
		})
		st, err := fleet.OpenState(srv.JetStream(), fleet.StateOptions{Node: node, Table: table})
		if err != nil {
			panic(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := st.WaitSynced(wctx); err != nil {
			panic(err)
		}
		return table, st
	}
	_, a := open("a")
	defer a.Close(ctx)
	tableB, b := open("b")
	defer b.Close(ctx)

	watch := tableB.Watch()
	r, err := a.Move(ctx, "users", strangler.Promote(nil), strangler.Action{Actor: "admin", Reason: "shadow first"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("a moved users to", r.Stage)
	for range 100 { // b applies the change from its watch of the bucket
		if rb, _ := tableB.Route("users"); rb.Stage == r.Stage {
			break
		}
		select {
		case <-watch:
			watch = tableB.Watch()
		case <-time.After(10 * time.Second):
		}
	}
	rb, _ := tableB.Route("users")
	fmt.Println("b serves users in", rb.Stage)
	// Output:
	// a moved users to shadow
	// b serves users in shadow
}
