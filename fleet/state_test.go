package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/fleet"
	"github.com/edged/edged/strangler"
)

// threeNodes starts one NATS server and three nodes on it, synced.
func threeNodes(t *testing.T) (*natsNode, []*fleetNode) {
	t.Helper()
	ns := startNATSNode(t)
	var nodes []*fleetNode
	for _, name := range []string{"a", "b", "c"} {
		nodes = append(nodes, openNode(t, ns.url(), name, nodeOpts{}))
	}
	for _, n := range nodes {
		n.synced(t)
	}
	return ns, nodes
}

// TestMovePropagates: a change made on node A is applied by B and C within
// the contract's second, for a route whose name needs escaping too.
func TestMovePropagates(t *testing.T) {
	_, nodes := threeNodes(t)
	a := nodes[0]
	tests := []struct {
		name   string
		route  string
		tr     strangler.Transition
		stage  strangler.Stage
		weight int
	}{
		{"promote with the plan", "users", strangler.Promote(&a.plan), strangler.StageCanary, 1},
		{"weight", "users", strangler.SetWeight(40), strangler.StageCanary, 40},
		{"dotted route name", "orders.v2", strangler.Promote(nil), strangler.StageShadow, 0},
		{"rollback", "users", strangler.Rollback(&a.plan), strangler.StageLegacy, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := a.state.Move(t.Context(), tc.route, tc.tr, strangler.Action{Actor: "admin", Reason: tc.name})
			if err != nil {
				t.Fatal(err)
			}
			if r.Stage != tc.stage || r.Weight != tc.weight {
				t.Fatalf("Move = %s/%d, want %s/%d", r.Stage, r.Weight, tc.stage, tc.weight)
			}
			// A read its own write: Move returns once A applied it.
			if got, _ := a.table.Route(tc.route); got.Stage != tc.stage || got.Weight != tc.weight {
				t.Fatalf("A's table = %s/%d right after Move", got.Stage, got.Weight)
			}
			for _, n := range nodes[1:] {
				n.waitRoute(t, tc.route, tc.stage, tc.weight, time.Second)
				ev := n.table.LatestEvents(1)[0]
				if ev.Route != tc.route || ev.Actor != "admin" || ev.Reason != tc.name {
					t.Errorf("%s: last event %+v, want A's change with its actor and reason", n.name, ev)
				}
			}
		})
	}
	t.Run("refused transition changes nothing", func(t *testing.T) {
		before := a.state.Revision()
		_, err := a.state.Move(t.Context(), "users", strangler.Rollback(&a.plan), strangler.Action{Actor: "admin"})
		if !errors.Is(err, strangler.ErrNoTransition) {
			t.Fatalf("rollback at legacy = %v, want ErrNoTransition", err)
		}
		if _, err := a.state.Move(t.Context(), "nope", strangler.Promote(nil), strangler.Action{}); !errors.Is(err, strangler.ErrNotFound) {
			t.Fatalf("unknown route = %v, want ErrNotFound", err)
		}
		if a.state.Revision() != before {
			t.Errorf("revision moved from %d to %d", before, a.state.Revision())
		}
	})
}

// TestConcurrentMovesLoseNothing: 30 promotions from three nodes at once
// are all applied, one step each: the compare-and-swap retries from the
// winner's state instead of overwriting it.
func TestConcurrentMovesLoseNothing(t *testing.T) {
	ns, nodes := threeNodes(t)
	const perNode = 10
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes)*perNode)
	for _, n := range nodes {
		wg.Go(func() {
			for range perNode {
				if _, err := n.promote(context.Background()); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := len(nodes) * perNode // steps 1, 2, ... : the n-th promotion sets weight n
	for _, n := range nodes {
		n.waitRoute(t, "users", strangler.StageCanary, want, patience)
	}
	// The stored generation counts the import and every write.
	st := storedState(t, ns.url(), "users")
	if st.Generation != uint64(want)+1 {
		t.Errorf("generation = %d, want %d (import + %d moves)", st.Generation, want+1, want)
	}
}

// storedState reads a route's value from the bucket with a connection of
// its own.
func storedState(t *testing.T, url, route string) fleet.RouteState {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(t.Context(), fleet.RoutesBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(t.Context(), fleet.RouteKey(route))
	if err != nil {
		t.Fatal(err)
	}
	var st fleet.RouteState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// writes counts the values a key of the routes bucket has had.
func writes(t *testing.T, url, key string) int {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(t.Context(), fleet.RoutesBucket)
	if err != nil {
		t.Fatal(err)
	}
	h, err := kv.History(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return len(h)
}

// TestNATSDown: with NATS stopped every node keeps its state, refuses
// changes with ErrUnavailable and reports a growing age; a node started
// meanwhile serves its last-known-good cache; when NATS is back, all nodes
// follow again and converge on the next change.
func TestNATSDown(t *testing.T) {
	ns, nodes := threeNodes(t)
	a := nodes[0]
	if _, err := a.promote(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.waitRoute(t, "users", strangler.StageCanary, 1, patience)
	}
	aDir := a.dir
	if err := a.state.Close(t.Context()); err != nil { // A goes down too; its cache stays
		t.Fatal(err)
	}
	ns.stop()
	for _, n := range nodes[1:] {
		n.waitNotLive(t)
		if r, _ := n.table.Route("users"); r.Stage != strangler.StageCanary || r.Weight != 1 {
			t.Errorf("%s serves %s/%d with NATS down, want its last state canary/1", n.name, r.Stage, r.Weight)
		}
		_, err := n.promote(t.Context())
		if !errors.Is(err, strangler.ErrUnavailable) || !strings.Contains(err.Error(), "last-known-good") {
			t.Errorf("%s: Move with NATS down = %v, want ErrUnavailable explaining the node serves its last-known-good state", n.name, err)
		}
		if n.state.Age() <= 0 {
			t.Errorf("%s: Age = %v with NATS down, want > 0", n.name, n.state.Age())
		}
	}
	// A starts again while NATS is down: router.toml says legacy, the cache
	// says canary/1.
	a2 := openNode(t, ns.url(), "a", nodeOpts{dir: aDir})
	if r, _ := a2.table.Route("users"); r.Stage != strangler.StageCanary || r.Weight != 1 {
		t.Fatalf("restarted A serves %s/%d without NATS, want the cached canary/1", r.Stage, r.Weight)
	}
	if err := a2.state.CacheError(); err != nil {
		t.Fatalf("CacheError = %v", err)
	}
	ns.start()
	all := []*fleetNode{a2, nodes[1], nodes[2]}
	for _, n := range all {
		n.synced(t)
	}
	if _, err := nodes[1].promote(t.Context()); err != nil {
		t.Fatalf("promote after NATS came back: %v", err)
	}
	for _, n := range all {
		n.waitRoute(t, "users", strangler.StageCanary, 2, patience)
		if n.state.Age() != 0 {
			t.Errorf("%s: Age = %v once synced, want 0", n.name, n.state.Age())
		}
	}
}

// TestImportOnce: two nodes with different migration states race to find
// the bucket empty; exactly one imports, and both end with its state.
func TestImportOnce(t *testing.T) {
	for i := range 4 {
		t.Run("race "+itoa(i), func(t *testing.T) {
			ns := startNATSNode(t)
			ahead := testRoutes()
			ahead[0].Stage, ahead[0].Weight, ahead[0].Step = strangler.StageCanary, 50, 49
			var a, b *fleetNode
			var wg sync.WaitGroup
			wg.Go(func() { a = openNode(t, ns.url(), "a", nodeOpts{routes: ahead}) })
			wg.Go(func() { b = openNode(t, ns.url(), "b", nodeOpts{}) })
			wg.Wait()
			a.synced(t)
			b.synced(t)
			st := storedState(t, ns.url(), "users")
			want := map[string]int{"a": 50, "b": 0}[st.Node]
			if st.Generation != 1 || st.Kind != "fleet_import" {
				t.Fatalf("stored %+v, want one import", st)
			}
			for _, n := range []*fleetNode{a, b} {
				n.waitRoute(t, "users", map[bool]strangler.Stage{true: strangler.StageCanary, false: strangler.StageLegacy}[want > 0], want, patience)
			}
			if other := storedState(t, ns.url(), "orders.v2"); other.Node != st.Node {
				t.Errorf("routes imported by %s and %s: two imports", st.Node, other.Node)
			}
			if n := writes(t, ns.url(), fleet.RouteKey("users")); n != 1 {
				t.Errorf("route users written %d times, want one import", n)
			}
		})
	}
}

// TestCorruptCache: a cache that does not parse is a clear error naming
// the file, is set aside, and the node starts from its table.
func TestCorruptCache(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, fleet.CacheFile)
	if err := os.WriteFile(path, []byte(`{"version":1,"routes":[{"key":"route.users","state":{"name":"users","stage":"canary","weight":`), 0o600); err != nil {
		t.Fatal(err)
	}
	// No NATS at all: the node has only its cache to go on.
	n := openNode(t, "nats://127.0.0.1:1", "a", nodeOpts{dir: dir})
	err := n.state.CacheError()
	if !errors.Is(err, fleet.ErrCorruptCache) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "moved to") {
		t.Fatalf("CacheError = %v, want ErrCorruptCache naming %s and where it went", err, path)
	}
	if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("corrupt cache still in place: %v", serr)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 1 {
		t.Errorf("set-aside copies = %v, want 1", aside)
	}
	if r, _ := n.table.Route("users"); r.Stage != strangler.StageLegacy {
		t.Errorf("route = %s, want router.toml's legacy", r.Stage)
	}
	if _, err := n.promote(t.Context()); !errors.Is(err, strangler.ErrUnavailable) {
		t.Errorf("Move without NATS = %v, want ErrUnavailable", err)
	}
}

// TestStatus: every node is listed with its revision, and a node whose
// router.toml runs another plan is named as disagreeing.
func TestStatus(t *testing.T) {
	ns, nodes := threeNodes(t)
	odd := openNode(t, ns.url(), "d", nodeOpts{plan: func(p *strangler.Plan) { p.Steps = []int{10, 100} }})
	odd.synced(t)
	if _, err := nodes[0].promote(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.waitRoute(t, "users", strangler.StageCanary, 1, patience)
	}
	// The registry is written on the next heartbeat (a third of NodeTTL).
	deadline := time.After(patience)
	for {
		st := nodes[1].state.Status(t.Context())
		names := []string{}
		for _, n := range st.Nodes {
			names = append(names, n.Name)
		}
		oddListed := false
		for _, d := range st.Disagreements {
			oddListed = oddListed || strings.HasPrefix(d, "d: does not apply") && strings.Contains(d, "users")
		}
		if strings.Join(names, ",") == "a,b,c,d" && oddListed && st.Error == "" {
			if r, _ := odd.table.Route("users"); r.Stage != strangler.StageLegacy {
				t.Errorf("d applied a state of another plan: %s/%d", r.Stage, r.Weight)
			}
			return
		}
		select {
		case <-deadline:
			t.Fatalf("status = %+v, want nodes a,b,c,d and d disagreeing on users", st)
		case <-time.After(100 * time.Millisecond): // the registry has no watch here: heartbeats are periodic
		}
	}
}

// TestHistory: changes made on different nodes are one history.
func TestHistory(t *testing.T) {
	_, nodes := threeNodes(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	if _, err := a.promote(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.state.Move(t.Context(), "users", strangler.Rollback(&b.plan), strangler.Action{Actor: "admin", Reason: "bad"}); err != nil {
		t.Fatal(err)
	}
	evs, err := c.state.History(t.Context(), "users", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Kind+":"+e.From.String()+"->"+e.To.String()+":"+e.Reason)
	}
	want := "promote:legacy->canary:by a (on node a) rollback:canary->legacy:bad (on node b)"
	if strings.Join(got, " ") != want {
		t.Errorf("history = %q, want %q", strings.Join(got, " "), want)
	}
}

// TestHistoryEmptyRoute: a route nobody changed has no history, at once.
func TestHistoryEmptyRoute(t *testing.T) {
	_, nodes := threeNodes(t)
	if _, err := nodes[0].promote(t.Context()); err != nil {
		t.Fatal(err)
	}
	evs, err := nodes[1].state.History(t.Context(), "orders.v2", 10)
	if err != nil || len(evs) != 0 {
		t.Fatalf("History(orders.v2) = %v, %v; want none", evs, err)
	}
	all, err := nodes[1].state.History(t.Context(), "", 10)
	if err != nil || len(all) != 1 || all[0].Route != "users" {
		t.Fatalf("History(all) = %+v, %v; want users' promotion", all, err)
	}
}

// TestBucketStartedOver: a node whose cache holds revisions of a bucket that
// was since deleted and imported again (revisions from 1) takes the new
// bucket's state, not its own newer-looking revisions.
func TestBucketStartedOver(t *testing.T) {
	ns := startNATSNode(t)
	a := openNode(t, ns.url(), "a", nodeOpts{})
	a.synced(t)
	for range 5 {
		if _, err := a.promote(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.state.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := js.DeleteKeyValue(t.Context(), fleet.RoutesBucket); err != nil {
		t.Fatal(err)
	}
	b := openNode(t, ns.url(), "b", nodeOpts{}) // imports router.toml's legacy
	b.synced(t)
	a2 := openNode(t, ns.url(), "a", nodeOpts{dir: a.dir})
	a2.synced(t)
	a2.waitRoute(t, "users", strangler.StageLegacy, 0, patience)
	if got, want := a2.state.Revision(), b.state.Revision(); got != want {
		t.Errorf("A's revision = %d, want the new bucket's %d", got, want)
	}
}

// TestLeaderChangedAnnounced: a node whose leadership changes registers at
// once (LeaderChanged), so the other nodes' status names the new leader
// long before the next heartbeat.
func TestLeaderChangedAnnounced(t *testing.T) {
	ns := startNATSNode(t)
	var leads atomic.Bool
	// NodeTTL of a minute: the next periodic heartbeat is 20 s away.
	a := openNode(t, ns.url(), "a", nodeOpts{leader: leads.Load, ttl: time.Minute})
	b := openNode(t, ns.url(), "b", nodeOpts{ttl: time.Minute})
	a.synced(t)
	b.synced(t)
	leaderSeen := func(want bool) {
		t.Helper()
		deadline := time.After(patience)
		for {
			st := b.state.Status(t.Context())
			for _, n := range st.Nodes {
				if n.Name == "a" && n.Leader == want {
					return
				}
			}
			select {
			case <-deadline:
				t.Fatalf("b's status = %+v, want a with leader = %v", st.Nodes, want)
			case <-time.After(20 * time.Millisecond): // the registry has no watch here
			}
		}
	}
	for _, want := range []bool{true, false} {
		t.Run(fmt.Sprintf("leader=%v", want), func(t *testing.T) {
			leads.Store(want)
			a.state.LeaderChanged()
			leaderSeen(want)
		})
	}
}
