package fleet_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/fleet"
	"github.com/edged/edged/strangler"
)

// electAs joins the election as node on a connection of its own and waits
// until it leads; the lock must be free or falling free.
func electAs(t *testing.T, url, node string) *fleet.Election {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name(node+"-election"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	el, err := fleet.Elect(t.Context(), js, node, fleet.ElectionOptions{TTL: fleet.MinElectionTTL})
	if err != nil {
		t.Fatalf("Elect(%s): %v", node, err)
	}
	t.Cleanup(func() { _ = el.Close(context.Background()) })
	deadline := time.After(patience)
	for {
		ch := el.Changed()
		if el.IsLeader() {
			return el
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s does not lead after %v", node, patience)
		}
	}
}

// TestFencedByTerm: a leader deposed while a decision was on its way (its
// term ended, a newer leader has written the route since) cannot land that
// decision, even one made on the route as it is now (Transition.Expect
// does not stop it): the write is refused with a *FencedError and the
// stored state is left as the newer leader wrote it. People's changes are
// not fenced and keep the stored term. Without the fence the deposed
// leader's rollback was written.
func TestFencedByTerm(t *testing.T) {
	ns := startNATSNode(t)
	a := openNode(t, ns.url(), "a", nodeOpts{})
	b := openNode(t, ns.url(), "b", nodeOpts{})
	a.synced(t)
	b.synced(t)
	if _, err := a.promote(t.Context()); err != nil { // legacy -> canary/1, by hand
		t.Fatal(err)
	}
	elA := electAs(t, ns.url(), "a")
	oldTerm := elA.Term()
	oldLeader := a.state.Fenced(oldTerm)
	if err := elA.Resign(t.Context()); err != nil {
		t.Fatal(err)
	}
	elB := electAs(t, ns.url(), "b")
	newTerm := elB.Term()
	if newTerm <= oldTerm {
		t.Fatalf("new term %d is not above the old %d", newTerm, oldTerm)
	}
	newLeader := b.state.Fenced(newTerm)

	// route reads the route as n's table holds it once every earlier write
	// reached it, as a controller judging it would.
	route := func(n *fleetNode) strangler.Route {
		t.Helper()
		st := storedState(t, ns.url(), "users")
		n.waitRoute(t, "users", st.Stage, st.Weight, patience)
		r, _ := n.table.Route("users")
		return r
	}
	ctrl := strangler.Action{Actor: strangler.ActorController}
	tests := []struct {
		name     string
		node     *fleetNode
		mover    strangler.Mover
		tr       func(*fleetNode) strangler.Transition
		wantErr  bool
		wantTerm uint64 // stored after the write
	}{
		{"the old leader writes during its term", a, oldLeader,
			func(n *fleetNode) strangler.Transition { return strangler.Promote(&n.plan).Expect(route(n)) }, false, oldTerm},
		{"the new leader writes", b, newLeader,
			func(n *fleetNode) strangler.Transition { return strangler.Promote(&n.plan).Expect(route(n)) }, false, newTerm},
		{"the deposed leader's decision is refused", a, oldLeader,
			func(n *fleetNode) strangler.Transition { return strangler.Rollback(&n.plan).Expect(route(n)) }, true, newTerm},
		{"a person's change is not fenced and keeps the term", a, a.state,
			func(n *fleetNode) strangler.Transition { return strangler.Promote(&n.plan) }, false, newTerm},
		{"the deposed leader is still refused after it", a, oldLeader,
			func(n *fleetNode) strangler.Transition { return strangler.Promote(&n.plan).Expect(route(n)) }, true, newTerm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := tc.tr(tc.node)
			before := storedState(t, ns.url(), "users")
			_, err := tc.mover.Move(t.Context(), "users", tr, ctrl)
			after := storedState(t, ns.url(), "users")
			if tc.wantErr {
				var fe *fleet.FencedError
				if !errors.As(err, &fe) || !errors.Is(err, fleet.ErrFenced) || fe.Term != oldTerm || fe.Stored != newTerm {
					t.Fatalf("Move = %v, want a *FencedError of term %d below %d", err, oldTerm, newTerm)
				}
				if after.Generation != before.Generation || after.Stage != before.Stage || after.Weight != before.Weight {
					t.Errorf("stored %s/%d generation %d after the refused write, want it unchanged (%s/%d generation %d)",
						after.Stage, after.Weight, after.Generation, before.Stage, before.Weight, before.Generation)
				}
			} else if err != nil {
				t.Fatalf("Move = %v", err)
			} else if after.Generation != before.Generation+1 {
				t.Errorf("generation %d -> %d, want one write", before.Generation, after.Generation)
			}
			if after.Term != tc.wantTerm {
				t.Errorf("stored term = %d, want %d", after.Term, tc.wantTerm)
			}
		})
	}
}
