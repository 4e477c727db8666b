package fleet

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/strangler"
	"github.com/edged/edged/strangler/migrate"
	"github.com/nats-io/nats.go"
)

// nodeSampler stands in for a node's router: cumulative readings per route
// that the test moves forward as traffic would.
type nodeSampler struct {
	mu     sync.Mutex
	routes map[string]migrate.Sample
}

func newNodeSampler() *nodeSampler { return &nodeSampler{routes: map[string]migrate.Sample{}} }

func (n *nodeSampler) Sample(route string) (migrate.Sample, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.routes[route], true
}

// serve records traffic on route: w is added to its cumulative reading.
func (n *nodeSampler) serve(route string, w migrate.Sample) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.routes[route]
	addSample(&s, &w)
	n.routes[route] = s
}

func (n *nodeSampler) names() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.routes))
	for r := range n.routes {
		out = append(out, r)
	}
	return out
}

// traffic is a window of reqs legacy and iso isolate requests, errs isolate
// errors, at the given latencies, and cmp shadow comparisons with mis
// mismatches.
func traffic(reqs, iso, errs uint64, legacyLat, isoLat time.Duration, cmp, mis uint64) migrate.Sample {
	var s migrate.Sample
	s.Legacy.Requests = reqs
	s.Legacy.Latency[migrate.BucketOf(legacyLat)] = reqs
	s.Isolate.Requests, s.Isolate.Errors = iso, errs
	s.Isolate.Latency[migrate.BucketOf(isoLat)] = iso
	s.ShadowCompared, s.ShadowMismatches = cmp, mis
	return s
}

type windowNode struct {
	name string
	nc   *nats.Conn
	src  *nodeSampler
	pub  *WindowPublisher
}

func windowNodes(t *testing.T, url string, o WindowPublisherOptions, names ...string) []*windowNode {
	t.Helper()
	var out []*windowNode
	for _, n := range names {
		nc, _ := connect(t, url, n)
		src := newNodeSampler()
		pub, err := NewWindowPublisher(nc, n, src, src.names, o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &windowNode{n, nc, src, pub})
	}
	return out
}

// publish publishes one window of each node and flushes it to the server.
func publish(t *testing.T, nodes ...*windowNode) {
	t.Helper()
	for _, n := range nodes {
		if err := n.pub.Publish(); err != nil {
			t.Fatalf("%s: Publish: %v", n.name, err)
		}
		if err := n.nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// collector subscribes on a connection of its own, as the leader would.
func collector(t *testing.T, url string, o WindowCollectorOptions) (*WindowCollector, *nats.Conn) {
	t.Helper()
	nc, _ := connect(t, url, "leader")
	c, err := CollectWindows(nc, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	if err := nc.Flush(); err != nil { // the subscription is in place on the server
		t.Fatal(err)
	}
	return c, nc
}

// awaitMessages waits until c has taken in n messages in all.
func awaitMessages(t *testing.T, c *WindowCollector, n uint64) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		ch := c.Received()
		if got := c.Stats().Messages; got >= n {
			if got > n {
				t.Fatalf("collector took in %d messages, want %d", got, n)
			}
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("collector took in %d messages, want %d within %v", c.Stats().Messages, n, waitLimit)
		}
	}
}

func sum(ws ...migrate.Sample) migrate.Sample {
	var s migrate.Sample
	for i := range ws {
		addSample(&s, &ws[i])
	}
	return s
}

func TestWindowsSummedAcrossNodes(t *testing.T) {
	url := startNATS(t)
	c, _ := collector(t, url, WindowCollectorOptions{})
	nodes := windowNodes(t, url, WindowPublisherOptions{}, "a", "b", "c")
	a, b, cn := nodes[0], nodes[1], nodes[2]

	// Round 1: users on every node, orders on b only (the failing canary
	// that only b's clients reach).
	ua := traffic(100, 10, 0, 2*time.Millisecond, 3*time.Millisecond, 0, 0)
	ub := traffic(50, 5, 1, 4*time.Millisecond, 3*time.Millisecond, 0, 0)
	uc := traffic(10, 1, 0, 2*time.Millisecond, 30*time.Millisecond, 0, 0)
	ob := traffic(20, 20, 15, time.Millisecond, 9*time.Millisecond, 7, 2)
	a.src.serve("users", ua)
	b.src.serve("users", ub)
	b.src.serve("orders", ob)
	cn.src.serve("users", uc)
	publish(t, a, b, cn)
	awaitMessages(t, c, 3)
	checkSample(t, c, "users", sum(ua, ub, uc))
	checkSample(t, c, "orders", ob)
	checkSample(t, c, "idle", migrate.Sample{})

	// Round 2: only a serves; the sums grow by a's window alone, and the
	// others' heartbeats add nothing.
	ua2 := traffic(7, 3, 3, 80*time.Millisecond, 90*time.Millisecond, 0, 0)
	a.src.serve("users", ua2)
	publish(t, a, b, cn)
	awaitMessages(t, c, 6)
	checkSample(t, c, "users", sum(ua, ub, uc, ua2))
	checkSample(t, c, "orders", ob)

	got := c.Nodes()
	if len(got) != 3 {
		t.Fatalf("Nodes() = %+v, want a, b, c", got)
	}
	for i, want := range []string{"a", "b", "c"} {
		if got[i].Node != want || got[i].Seq != 2 || got[i].Windows != 2 || got[i].Lost != 0 {
			t.Errorf("Nodes()[%d] = %+v, want %s at seq 2, 2 windows, none lost", i, got[i], want)
		}
	}
	if st := c.Stats(); st.Malformed+st.Stale+st.Refused != 0 {
		t.Errorf("Stats() = %+v, want nothing malformed, stale or refused", st)
	}
}

// TestWindowsDriveController runs strangler's controller on the collector:
// a canary failing only on node b is rolled back by the leader, which serves
// no traffic of that route itself.
func TestWindowsDriveController(t *testing.T) {
	url := startNATS(t)
	c, _ := collector(t, url, WindowCollectorOptions{})
	nodes := windowNodes(t, url, WindowPublisherOptions{}, "a", "b")
	plan := strangler.Plan{Steps: []int{10, 50, 100}, Interval: time.Minute, MinRequests: 20,
		MaxErrorRate: 0.05, MaxLatencyRatio: 3, MaxMismatchRate: 0.01, OnFailure: strangler.FailRollback}
	table, err := strangler.NewTable([]strangler.Route{{Name: "orders", Path: "/orders", Upstream: "legacy",
		Function: "orders", Stage: strangler.StageCanary, Weight: 10, Step: 0}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	ctl := migrate.NewController(table, c, migrate.ControllerOptions{Now: func() time.Time { return now }})
	ctl.SetPlans(map[string]strangler.Plan{"orders": plan})
	ctl.Tick() // the step's baseline: nothing yet

	nodes[0].src.serve("orders", traffic(200, 0, 0, 2*time.Millisecond, 0, 0, 0))
	nodes[1].src.serve("orders", traffic(100, 30, 12, 2*time.Millisecond, 2*time.Millisecond, 0, 0))
	publish(t, nodes...)
	awaitMessages(t, c, 2)
	now = now.Add(time.Second)
	ctl.Tick()
	r, _ := table.Route("orders")
	if r.Stage == strangler.StageCanary && r.Weight == 10 {
		g, _ := ctl.Gates("orders")
		t.Fatalf("route still at canary 10%% after a fleet-wide isolate error rate of 40%%: gates %+v", g)
	}
	if r.Stage != strangler.StageLegacy || r.Weight != 0 {
		t.Errorf("route = %s %d%%, want rolled back", r.Stage, r.Weight)
	}
}

func checkSample(t *testing.T, c *WindowCollector, route string, want migrate.Sample) {
	t.Helper()
	got, ok := c.Sample(route)
	if !ok || got != want {
		t.Errorf("Sample(%q) = %+v, %v\nwant %+v", route, summary(got), ok, summary(want))
	}
}

// summary prints a sample without its 128 buckets.
func summary(s migrate.Sample) string {
	return fmt.Sprintf("legacy %d/%d (lat n=%d) isolate %d/%d (lat n=%d) shadow %d/%d",
		s.Legacy.Requests, s.Legacy.Errors, s.Legacy.Latency.Count(),
		s.Isolate.Requests, s.Isolate.Errors, s.Isolate.Latency.Count(), s.ShadowCompared, s.ShadowMismatches)
}

// TestWindowsSilentNodeDropsOut: a node silent for longer than DropAfter
// leaves the live nodes; what it had sent stays summed; a window that covers
// a longer span than DropAfter is not summed, but brings the node back.
func TestWindowsSilentNodeDropsOut(t *testing.T) {
	url := startNATS(t)
	var (
		mu    sync.Mutex
		clock = time.Unix(1_700_000_000, 0)
	)
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	c, _ := collector(t, url, WindowCollectorOptions{Now: now})
	nodes := windowNodes(t, url, WindowPublisherOptions{}, "a", "b")
	a, b := nodes[0], nodes[1]
	wa := traffic(5, 0, 0, time.Millisecond, 0, 0, 0)
	wb := traffic(9, 0, 0, time.Millisecond, 0, 0, 0)
	a.src.serve("users", wa)
	b.src.serve("users", wb)
	publish(t, a, b)
	awaitMessages(t, c, 2)

	advance(2 * time.Second)
	publish(t, a) // a's heartbeat; b stays silent
	awaitMessages(t, c, 3)
	if got := nodeNames(c.Nodes()); got != "a,b" {
		t.Fatalf("after 2 s: Nodes() = %s, want a,b", got)
	}
	advance(DefaultDropAfter - time.Second + time.Millisecond) // b silent for DropAfter + 1 ms
	if got := nodeNames(c.Nodes()); got != "a" {
		t.Fatalf("b silent past DropAfter: Nodes() = %s, want a", got)
	}
	checkSample(t, c, "users", sum(wa, wb))

	// b comes back with a window spanning its silence: not summed.
	ncb, _ := connect(t, url, "b-late")
	late := traffic(1000, 0, 0, time.Millisecond, 0, 0, 0)
	msg := encodeAll(2, DefaultDropAfter+time.Second, []decodedRoute{{"users", late}})
	if err := ncb.Publish(WindowsSubject+"b", msg); err != nil {
		t.Fatal(err)
	}
	if err := ncb.Flush(); err != nil {
		t.Fatal(err)
	}
	awaitMessages(t, c, 4)
	if st := c.Stats(); st.Stale != 1 {
		t.Errorf("Stats().Stale = %d, want 1", st.Stale)
	}
	checkSample(t, c, "users", sum(wa, wb))
	if got := nodeNames(c.Nodes()); got != "a,b" {
		t.Errorf("after b's late window: Nodes() = %s, want a,b", got)
	}
}

func nodeNames(ns []NodeWindows) string {
	s := ""
	for i, n := range ns {
		if i > 0 {
			s += ","
		}
		s += n.Node
	}
	return s
}

// TestWindowsOnlyChangedRoutes reads the wire: a window lists the routes that
// moved, an idle node sends a bare heartbeat, and a route that is gone is
// forgotten.
func TestWindowsOnlyChangedRoutes(t *testing.T) {
	url := startNATS(t)
	nc, _ := connect(t, url, "tap")
	msgs := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe(WindowsSubject+"a", msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	n := windowNodes(t, url, WindowPublisherOptions{}, "a")[0]
	next := func() (windowHeader, []decodedRoute) {
		t.Helper()
		select {
		case m := <-msgs:
			h, rs, err := decodeAll(m.Data)
			if err != nil {
				t.Fatalf("published window: %v", err)
			}
			return h, rs
		case <-time.After(waitLimit):
			t.Fatalf("no window within %v", waitLimit)
			return windowHeader{}, nil
		}
	}
	w1 := traffic(3, 1, 0, time.Millisecond, time.Millisecond, 0, 0)
	for _, r := range []string{"r1", "r2", "r3"} {
		n.src.serve(r, w1)
	}
	publish(t, n)
	if h, rs := next(); h.seq != 1 || len(rs) != 3 {
		t.Fatalf("first window: seq %d, %d routes, want seq 1 and 3 routes", h.seq, len(rs))
	}
	w2 := traffic(0, 2, 2, 0, 5*time.Millisecond, 0, 0)
	n.src.serve("r2", w2)
	// A route listed twice still goes out once.
	n.pub.routes = func() []string { return append(n.src.names(), "r2") }
	publish(t, n)
	if h, rs := next(); h.seq != 2 || len(rs) != 1 || rs[0].name != "r2" || rs[0].s != w2 {
		t.Fatalf("second window: seq %d, routes %+v, want only r2 with its delta", h.seq, rs)
	}
	publish(t, n)
	if h, rs := next(); h.seq != 3 || len(rs) != 0 {
		t.Fatalf("idle window: seq %d, %d routes, want a heartbeat", h.seq, len(rs))
	}
	n.src.mu.Lock()
	delete(n.src.routes, "r3")
	n.src.mu.Unlock()
	publish(t, n)
	next()
	n.pub.mu.Lock()
	_, kept := n.pub.last["r3"]
	n.pub.mu.Unlock()
	if kept {
		t.Error("the publisher still keeps the reading of removed route r3")
	}
}

// TestWindowsSplitIntoParts: a window too large for one message goes out in
// parts that share its number, and the collector sums them all as one
// window.
func TestWindowsSplitIntoParts(t *testing.T) {
	url := startNATS(t)
	c, _ := collector(t, url, WindowCollectorOptions{})
	n := windowNodes(t, url, WindowPublisherOptions{Part: 512}, "a")[0]
	want := map[string]migrate.Sample{}
	for i := range 60 {
		r := fmt.Sprintf("route-%02d", i)
		w := busy(uint64(10 + i))
		n.src.serve(r, w)
		want[r] = w
	}
	publish(t, n)
	st := n.pub.Stats()
	if st.Messages < 2 || st.Windows != 1 {
		t.Fatalf("publisher Stats() = %+v, want one window in several messages", st)
	}
	awaitMessages(t, c, st.Messages)
	for r, w := range want {
		checkSample(t, c, r, w)
	}
	if ns := c.Nodes(); len(ns) != 1 || ns[0].Windows != 1 || ns[0].Seq != 1 || ns[0].Lost != 0 {
		t.Errorf("Nodes() = %+v, want a with one window", ns)
	}
}

// TestWindowsHostileInput: malformed messages, numbering gaps and floods of
// nodes or routes are counted and bounded, never summed past the limits.
func TestWindowsHostileInput(t *testing.T) {
	url := startNATS(t)
	c, _ := collector(t, url, WindowCollectorOptions{MaxNodes: 2, MaxRoutes: 3})
	nc, _ := connect(t, url, "hostile")
	one := traffic(1, 0, 0, time.Millisecond, 0, 0, 0)
	send := func(node string, b []byte) {
		t.Helper()
		if err := nc.Publish(WindowsSubject+node, b); err != nil {
			t.Fatal(err)
		}
	}
	send("a", []byte("garbage"))
	send("a", encodeAll(1, time.Second, []decodedRoute{{"r1", one}, {"r2", one}}))
	send("a", encodeAll(4, time.Second, []decodedRoute{{"r3", one}, {"r4", one}})) // 2 and 3 lost; r4 over MaxRoutes
	send("b", encodeAll(1, time.Second, nil))
	send("c", encodeAll(1, time.Second, []decodedRoute{{"r1", one}})) // over MaxNodes
	send("bad%node", encodeAll(1, time.Second, nil))                  // not a node name
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	awaitMessages(t, c, 6)
	st := c.Stats()
	if st.Malformed != 2 || st.Refused != 2 {
		t.Errorf("Stats() = %+v, want 2 malformed (garbage, bad node) and 2 refused (r4, node c)", st)
	}
	ns := c.Nodes()
	if nodeNames(ns) != "a,b" || ns[0].Lost != 2 || ns[0].Seq != 4 {
		t.Errorf("Nodes() = %+v, want a (seq 4, 2 lost) and b", ns)
	}
	checkSample(t, c, "r1", one)
	checkSample(t, c, "r4", migrate.Sample{})
}

// TestWindowsRouteListedLate: a route that joins the list after the first
// window (its migration starts, or starts again after a rollback) sends
// only what it serves from then on, not its whole past.
func TestWindowsRouteListedLate(t *testing.T) {
	url := startNATS(t)
	c, _ := collector(t, url, WindowCollectorOptions{})
	n := windowNodes(t, url, WindowPublisherOptions{}, "a")[0]
	listed := []string{"r1"}
	n.pub.routes = func() []string { return listed }
	past := traffic(50, 50, 50, time.Millisecond, time.Millisecond, 0, 0)
	n.src.serve("r1", past)
	n.src.serve("r2", past) // r2 is not running yet
	publish(t, n)
	awaitMessages(t, c, 1)
	if got, _ := c.Sample("r1"); got != past {
		t.Fatalf("r1 after the first window = %+v, want its reading whole", got)
	}
	tests := []struct {
		name   string
		listed []string
	}{
		{"listed after the first window", []string{"r1", "r2"}},
		{"dropped", []string{"r1"}},
		{"listed again", []string{"r1", "r2"}},
	}
	msgs := uint64(1)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			listed = tc.listed
			n.src.serve("r2", past) // served while the test changes the list
			publish(t, n)
			msgs++
			awaitMessages(t, c, msgs)
			if got, ok := c.Sample("r2"); ok && got != (migrate.Sample{}) {
				t.Errorf("r2 = %+v, want nothing of what it served before it was listed", got)
			}
		})
	}
	now := traffic(3, 2, 1, time.Millisecond, time.Millisecond, 0, 0)
	n.src.serve("r2", now)
	publish(t, n)
	awaitMessages(t, c, msgs+1)
	if got, _ := c.Sample("r2"); got != now {
		t.Errorf("r2 = %+v, want only what it served while listed, %+v", got, now)
	}
}
