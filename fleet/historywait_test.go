package fleet_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/fleet"
	"github.com/edged/edged/strangler"
)

// TestHistoryWaitsForTheStream: a change made while the history stream has
// no leader (a server of the cluster died, its groups elect anew: no
// responders for a few seconds) is appended once the stream answers again.
// With one attempt and the client's two quick retries, the step was missing
// from the history after a kill -9 of a clustered node.
func TestHistoryWaitsForTheStream(t *testing.T) {
	ns := startNATSNode(t)
	a := openNode(t, ns.url(), "a", nodeOpts{})
	a.synced(t)
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(t.Context(), fleet.EventsStream); err != nil {
		t.Fatal(err)
	}
	back := make(chan error, 1)
	// The stream comes back a second after the change began, as after an
	// election; the node itself does not recreate it.
	go func() {
		<-time.After(time.Second)
		_, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
			Name:     fleet.EventsStream,
			Subjects: []string{strings.TrimSuffix(fleet.EventsSubject("x"), "x") + ">"},
		})
		back <- err
	}()
	if _, err := a.promote(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-back; err != nil {
		t.Fatal(err)
	}
	evs, err := a.state.History(t.Context(), "users", 10)
	if err != nil || len(evs) != 1 || evs[0].To != strangler.StageCanary {
		t.Fatalf("History = %+v, %v; want the promotion once", evs, err)
	}
}
