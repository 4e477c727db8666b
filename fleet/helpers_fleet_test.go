package fleet_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/events"
	"github.com/edged/edged/fleet"
	"github.com/edged/edged/strangler"
)

// patience bounds every wait of these tests; nothing legitimate takes it.
const patience = 20 * time.Second

// natsNode is an embedded NATS server (with JetStream) on a fixed loopback
// port, which a test can stop and start again on the same port and store, as
// an operator restarting NATS would.
type natsNode struct {
	t    testing.TB
	dir  string
	addr string
	srv  *events.Server
}

func startNATSNode(t testing.TB) *natsNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	n := &natsNode{t: t, dir: t.TempDir(), addr: addr}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsNode) url() string { return "nats://" + n.addr }

func (n *natsNode) start() {
	n.t.Helper()
	srv, err := events.Open(context.Background(), events.Options{StoreDir: n.dir, Listen: n.addr, Sync: events.SyncInterval})
	if err != nil {
		n.t.Fatalf("start NATS on %s: %v", n.addr, err)
	}
	n.srv = srv
}

func (n *natsNode) stop() {
	if n.srv != nil {
		_ = n.srv.Close(context.Background())
		n.srv = nil
	}
}

// testPlan is the plan of route "users" on every node (unless a test gives
// a node another): canary steps 1..90, so that many promotions stay canary.
func testPlan() strangler.Plan {
	steps := make([]int, 90)
	for i := range steps {
		steps[i] = i + 1
	}
	return strangler.Plan{Start: strangler.StageCanary, Steps: steps, Interval: time.Minute, MinRequests: 10,
		MaxErrorRate: 0.01, MaxLatencyRatio: 2, MaxMismatchRate: 0.01}
}

// testRoutes are a node's routes as its router.toml gives them.
func testRoutes() []strangler.Route {
	return []strangler.Route{
		{Name: "users", Path: "/api/users", Upstream: "mono", Function: "users", Step: -1},
		{Name: "orders.v2", Path: "/api/orders", Upstream: "mono", Function: "orders", Step: -1},
	}
}

// fleetNode is one edged node of a test: its own NATS connection, table and
// fleet state.
type fleetNode struct {
	name  string
	dir   string
	table *strangler.Table
	plan  strangler.Plan
	state *fleet.State
}

// nodeOpts varies a node.
type nodeOpts struct {
	dir    string                // state dir; "" is a fresh one
	routes []strangler.Route     // nil is testRoutes()
	plan   func(*strangler.Plan) // edits testPlan()
	leader func() bool           // StateOptions.Leader
	ttl    time.Duration         // NodeTTL; 0 is 3s
}

// openNode connects a node to url (retrying while NATS is down) and opens
// its fleet state.
func openNode(t testing.TB, url, name string, o nodeOpts) *fleetNode {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	if o.routes == nil {
		o.routes = testRoutes()
	}
	nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond),
		nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	table, err := strangler.NewTable(o.routes)
	if err != nil {
		t.Fatal(err)
	}
	n := &fleetNode{name: name, dir: o.dir, table: table, plan: testPlan()}
	if o.plan != nil {
		o.plan(&n.plan)
	}
	plans := map[string]strangler.Plan{"users": n.plan}
	if o.ttl == 0 {
		o.ttl = 3 * time.Second
	}
	n.state, err = fleet.OpenState(js, fleet.StateOptions{
		Node: name, Table: table, StateDir: o.dir, NodeTTL: o.ttl, Leader: o.leader,
		Plans: func() map[string]strangler.Plan { return plans },
	})
	if err != nil {
		t.Fatalf("OpenState %s: %v", name, err)
	}
	t.Cleanup(func() { _ = n.state.Close(context.Background()) })
	return n
}

func (n *fleetNode) synced(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := n.state.WaitSynced(ctx); err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
}

// waitNotLive blocks until the node no longer follows the bucket.
func (n *fleetNode) waitNotLive(t testing.TB) {
	t.Helper()
	deadline := time.After(patience)
	for {
		ch := n.state.Changed()
		if !n.state.Live() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s still live %v after NATS stopped", n.name, patience)
		}
	}
}

// waitRoute blocks until the node's table holds the route at stage/weight,
// within limit; it is woken by the table's watch channel, never polls.
func (n *fleetNode) waitRoute(t testing.TB, name string, stage strangler.Stage, weight int, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	for {
		ch := n.table.Watch()
		r, _ := n.table.Route(name)
		if r.Stage == stage && r.Weight == weight {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: route %s is %s/%d after %v, want %s/%d", n.name, name, r.Stage, r.Weight, limit, stage, weight)
		}
	}
}

func (n *fleetNode) promote(ctx context.Context) (strangler.Route, error) {
	return n.state.Move(ctx, "users", strangler.Promote(&n.plan), strangler.Action{Actor: "admin", Reason: "by " + n.name})
}

func itoa(i int) string { return strconv.Itoa(i) }
