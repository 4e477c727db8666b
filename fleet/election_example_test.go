package fleet_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/edged/edged/events"
	"github.com/edged/edged/fleet"
)

// Two nodes share one embedded NATS server: the first to join leads, the
// other follows and takes over when the leader resigns. A leader runs its
// work under the term's context and stamps its writes with the term.
func ExampleElect() {
	dir, _ := os.MkdirTemp("", "fleet-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	srv, err := events.Open(ctx, events.Options{StoreDir: dir, Sync: events.SyncInterval})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close(ctx)
	js := srv.JetStream()

	a, err := fleet.Elect(ctx, js, "a", fleet.ElectionOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close(ctx)
	b, err := fleet.Elect(ctx, js, "b", fleet.ElectionOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close(ctx)

	leader, _ := b.Leader()
	fmt.Println("a leads:", a.IsLeader(), "- b sees:", leader)

	termCtx, term, _ := a.Leading()
	_ = a.Resign(ctx)
	<-termCtx.Done() // already done: Resign steps down first
	fmt.Println("a's term ended:", context.Cause(termCtx).(*fleet.TermEnd).Term == term)

	for deadline := time.After(10 * time.Second); !b.IsLeader(); {
		select {
		case <-b.Changed():
		case <-deadline:
			fmt.Println("b did not take over")
			return
		}
	}
	fmt.Println("b leads:", b.IsLeader(), "- newer term:", b.Term() > term)
	// Output:
	// a leads: true - b sees: a
	// a's term ended: true
	// b leads: true - newer term: true
}
