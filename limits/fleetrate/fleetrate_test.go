package fleetrate

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/limits"
)

// startNATS runs a real NATS server with JetStream on a loopback port for
// the test; every node connects to it over TCP, as separate processes would.
func startNATS(t testing.TB) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		ServerName: "fleetrate-test",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// node is one edged node's side of the fleet: its own connection and Fleet.
type node struct {
	nc *nats.Conn
	js jetstream.JetStream
	f  *Fleet
}

func newNode(t testing.TB, url string) node {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := Open(ctx, js, FleetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return node{nc: nc, js: js, f: f}
}

// fakeClock is the controlled clock the limiters share.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// waitHeard receives n values from ch: each is an increment applied by the
// node's subscription. The timeout only turns a hang into a failure.
func waitHeard(t testing.TB, ch <-chan struct{}, n int) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for i := range n {
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("heard %d of %d increments", i, n)
		}
	}
}

// scenario is one traffic pattern for one client key: demand(i, step) is how
// many requests node i receives in that step of a millisecond.
type scenario struct {
	name      string
	nodes     int
	rate      limits.Rate
	burst     int
	sync      time.Duration
	steps     int // of 1ms
	demand    func(node, step int) int
	saturated bool // demand far above the rate on the whole: per-node limiting must admit more than the bound
	everyNode bool // every node saturated all along: per-node limiting must admit about N times the rate
}

// TestFleetErrorBound drives N fleet limiters on one real NATS server with a
// controlled clock: every millisecond each node gets its requests, every sync
// interval each node syncs and the test waits until the others have applied
// its increments (so δ is the sync interval). In every window of the run the
// fleet must admit at most R·L + B + (N-1)·(B + R·δ), the bound of the
// package doc; where demand saturates, per-node limiters fed the same
// requests must admit more than that bound (about N·R·L where every node is
// saturated), and the fleet at least 90% of R·L. The counter stream's total
// must equal what the fleet admitted.
func TestFleetErrorBound(t *testing.T) {
	ns := startNATS(t)
	rate := limits.Rate{Events: 100, Per: time.Second}
	tests := []scenario{
		{name: "every node saturated", nodes: 3, rate: rate, burst: 10, sync: 100 * time.Millisecond, steps: 5000,
			demand: func(int, int) int { return 1 }, saturated: true, everyNode: true},
		{name: "one node only", nodes: 3, rate: rate, burst: 10, sync: 100 * time.Millisecond, steps: 3000,
			demand: func(n, _ int) int {
				if n == 0 {
					return 2
				}
				return 0
			}},
		{name: "client hops node every 300ms", nodes: 3, rate: rate, burst: 10, sync: 100 * time.Millisecond, steps: 5000,
			demand: func(n, s int) int {
				if (s/300)%3 == n {
					return 3
				}
				return 0
			}, saturated: true},
		{name: "simultaneous bursts after idle", nodes: 4, rate: rate, burst: 20, sync: 200 * time.Millisecond, steps: 5000,
			demand: func(_, s int) int {
				if s%1000 == 500 {
					return 50
				}
				return 0
			}},
		{name: "five nodes, slow sync", nodes: 5, rate: limits.Rate{Events: 1000, Per: time.Second}, burst: 50,
			sync: 250 * time.Millisecond, steps: 4000,
			demand: func(n, s int) int { return 1 + (n+s)%2 }, saturated: true, everyNode: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			route := "r" + strconv.Itoa(i)
			fleet, total := runFleet(t, ns.ClientURL(), route, tc)
			perNode := runPerNode(t, tc)
			n, r, b := float64(tc.nodes), float64(tc.rate.Events)/tc.rate.Per.Seconds(), float64(tc.burst)
			delta := tc.sync.Seconds()
			bound := func(window int) float64 {
				return r*float64(window)/1000 + b + (n-1)*(b+r*delta)
			}
			sum := func(a []int, from, to int) int { return a[to] - a[from] }
			// Windows of several lengths, sliding by a millisecond.
			for _, w := range []int{1, int(tc.sync / time.Millisecond), 1000, tc.steps} {
				for from := 0; from+w <= tc.steps; from++ {
					if got := sum(fleet, from, from+w); float64(got) > bound(w) {
						t.Fatalf("fleet admitted %d in [%dms, %dms), above the bound %.1f", got, from, from+w, bound(w))
					}
				}
			}
			got, want := fleet[tc.steps], bound(tc.steps)
			t.Logf("admitted over %dms: fleet %d, per node %d; bound %.0f, single bucket %.0f",
				tc.steps, got, perNode, want, r*float64(tc.steps)/1000+b)
			if tc.saturated {
				if float64(perNode) <= want {
					t.Errorf("per-node limiting admitted %d, not above the fleet bound %.0f: the scenario does not test the fleet", perNode, want)
				}
				if min := 0.9 * r * float64(tc.steps) / 1000; float64(got) < min {
					t.Errorf("fleet admitted %d, below 90%% of R·L (%.0f): it limits too hard", got, min)
				}
			}
			if want := 0.9 * n * r * float64(tc.steps) / 1000; tc.everyNode && float64(perNode) < want {
				t.Errorf("per-node limiting admitted %d, want at least 90%% of N·R·L (%.0f)", perNode, want)
			}
			if uint64(got) != total {
				t.Errorf("counter stream total = %d, want %d (every admission synced)", total, got)
			}
		})
	}
}

// runFleet runs tc on fleet limiters and returns the prefix sums of the
// fleet's admissions per step and the counter stream's total for the key.
func runFleet(t *testing.T, url, route string, tc scenario) ([]int, uint64) {
	clk := &fakeClock{}
	clk.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	lims := make([]*Limiter, tc.nodes)
	heard := make([]chan struct{}, tc.nodes)
	var first node
	for i := range lims {
		nd := newNode(t, url)
		if i == 0 {
			first = nd
		} else if nd.f.secret != first.f.secret {
			t.Fatal("two nodes of one fleet hold different hash keys")
		}
		heard[i] = make(chan struct{}, 64)
		l, err := nd.f.NewLimiter(Options{Route: route, Rate: tc.rate, Burst: tc.burst, SyncInterval: tc.sync,
			Now: clk.Now, manual: true, heard: heard[i]})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		lims[i] = l
	}
	sync := func() {
		before := make([]uint64, len(lims))
		var all uint64
		for i, l := range lims {
			before[i] = l.Stats().Published
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			all += l.Stats().Published - before[i]
		}
		for i, l := range lims {
			waitHeard(t, heard[i], int(all-(l.Stats().Published-before[i])))
		}
	}
	key := []byte("client-1")
	every := int(tc.sync / time.Millisecond)
	admitted := make([]int, tc.steps+1)
	for s := range tc.steps {
		if s > 0 && s%every == 0 {
			sync()
		}
		now := clk.Now()
		n := 0
		for i, l := range lims {
			for range tc.demand(i, s) {
				if ok, _ := l.AllowAt(key, now); ok {
					n++
				}
			}
		}
		admitted[s+1] = admitted[s] + n
		clk.Advance(time.Millisecond)
	}
	sync()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	total, err := first.f.Total(ctx, route, key)
	if err != nil {
		t.Fatal(err)
	}
	return admitted, total
}

// runPerNode runs tc on independent node limiters (scope = "node") and
// returns what they admitted together.
func runPerNode(t *testing.T, tc scenario) int {
	clk := &fakeClock{}
	lims := make([]*limits.Limiter, tc.nodes)
	for i := range lims {
		l, err := limits.NewLimiter(limits.LimiterOptions{Rate: tc.rate, Burst: tc.burst, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		lims[i] = l
	}
	key := []byte("client-1")
	n := 0
	for s := range tc.steps {
		for i, l := range lims {
			for range tc.demand(i, s) {
				if ok, _ := l.AllowAt(key, clk.Now()); ok {
					n++
				}
			}
		}
		clk.Advance(time.Millisecond)
	}
	return n
}

// TestFleetSyncLoop checks the background sync on a real clock: what one node
// admits reaches the other within its sync interval, and the other refuses the
// client whose burst was spent elsewhere (per node it would admit a burst).
func TestFleetSyncLoop(t *testing.T) {
	ns := startNATS(t)
	a, b := newNode(t, ns.ClientURL()), newNode(t, ns.ClientURL())
	opts := Options{Route: "loop", Rate: limits.Rate{Events: 1, Per: time.Hour}, Burst: 5, SyncInterval: MinSyncInterval}
	la, err := a.f.NewLimiter(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	heard := make(chan struct{}, 8)
	opts.heard = heard
	lb, err := b.f.NewLimiter(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	key := []byte("203.0.113.7")
	for i := range 5 {
		if ok, _ := la.Allow(key); !ok {
			t.Fatalf("node A refused request %d of a burst of 5", i)
		}
	}
	waitHeard(t, heard, 1)
	if ok, retry := lb.Allow(key); ok || retry <= 0 {
		t.Errorf("node B after A spent the burst: Allow = %v, %v, want a refusal", ok, retry)
	}
	if s := lb.Stats(); s.Heard != 1 || s.Published != 0 {
		t.Errorf("node B stats = %+v, want one increment heard, none published", s)
	}
	if ok, _ := lb.Allow([]byte("198.51.100.1")); !ok {
		t.Error("node B refused another client, want its own full bucket")
	}
}

// TestFleetUnreachable checks the fallback: with the NATS server gone a sync
// drops the spending and says so, and every node goes on limiting alone.
func TestFleetUnreachable(t *testing.T) {
	ns := startNATS(t)
	clk := &fakeClock{}
	var lims []*Limiter
	for range 2 {
		nd := newNode(t, ns.ClientURL())
		l, err := nd.f.NewLimiter(Options{Route: "down", Rate: limits.Rate{Events: 1, Per: time.Hour}, Burst: 3,
			Now: clk.Now, manual: true})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		lims = append(lims, l)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	key := []byte("client")
	for i, l := range lims {
		for j := range 3 {
			if ok, _ := l.AllowAt(key, clk.Now()); !ok {
				t.Fatalf("node %d refused request %d of its own burst with NATS down", i, j)
			}
		}
		if ok, _ := l.AllowAt(key, clk.Now()); ok {
			t.Fatalf("node %d admitted past its burst with NATS down", i)
		}
		if err := l.Sync(); !errors.Is(err, ErrUnreachable) {
			t.Errorf("node %d Sync with NATS down = %v, want ErrUnreachable", i, err)
		}
		if s := l.Stats(); s.Failed != 1 || s.Published != 0 {
			t.Errorf("node %d stats = %+v, want one failed sync", i, s)
		}
		if err := l.Sync(); err != nil {
			t.Errorf("node %d second Sync = %v, want nil: the spending was dropped", i, err)
		}
	}
}

func TestNewLimiterInvalid(t *testing.T) {
	ns := startNATS(t)
	nd := newNode(t, ns.ClientURL())
	rate := limits.Rate{Events: 10, Per: time.Second}
	tests := []struct {
		name string
		opts Options
	}{
		{"no route", Options{Rate: rate}},
		{"route with a dot", Options{Route: "a.b", Rate: rate}},
		{"route with a wildcard", Options{Route: "*", Rate: rate}},
		{"sync too short", Options{Route: "r", Rate: rate, SyncInterval: time.Millisecond}},
		{"sync too long", Options{Route: "r", Rate: rate, SyncInterval: time.Minute}},
		{"no rate", Options{Route: "r"}},
		{"negative burst", Options{Route: "r", Rate: rate, Burst: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := nd.f.NewLimiter(tc.opts); err == nil {
				l.Close()
				t.Errorf("NewLimiter(%+v) = nil error, want one", tc.opts)
			}
		})
	}
}

func TestParseIncrement(t *testing.T) {
	const prefix = "edged.ratelimit.orders."
	tests := []struct {
		subject, incr string
		h             uint64
		n             uint32
		ok            bool
	}{
		{prefix + "00000000000000ff", "+3", 0xff, 3, true},
		{prefix + "ffffffffffffffff", "+4294967295", ^uint64(0), 4294967295, true},
		{prefix + "00000000000000ff", "+4294967296", 0, 0, false},
		{prefix + "00000000000000ff", "3", 0, 0, false},
		{prefix + "00000000000000ff", "+0", 0, 0, false},
		{prefix + "00000000000000ff", "+03", 0, 0, false},
		{prefix + "00000000000000ff", "-3", 0, 0, false},
		{prefix + "00000000000000ff", "", 0, 0, false},
		{prefix + "00000000000000FF", "+3", 0, 0, false},
		{prefix + "0x000000000000ff", "+3", 0, 0, false},
		{prefix + "ff", "+3", 0, 0, false},
		{"edged.ratelimit.other.00000000000000ff", "+3", 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.subject+" "+tc.incr, func(t *testing.T) {
			h, n, ok := parseIncrement(prefix, tc.subject, tc.incr)
			if h != tc.h || n != tc.n || ok != tc.ok {
				t.Errorf("parseIncrement(%q, %q) = %x, %d, %v, want %x, %d, %v", tc.subject, tc.incr, h, n, ok, tc.h, tc.n, tc.ok)
			}
		})
	}
}

// FuzzParseIncrement checks that whatever parseIncrement accepts is exactly
// what Sync writes for that hash and count, so a malformed message can never
// debit a bucket.
func FuzzParseIncrement(f *testing.F) {
	const prefix = "edged.ratelimit.r."
	f.Add(prefix+"00000000000000ff", "+3")
	f.Add(prefix+"ffffffffffffffff", "+4294967295")
	f.Add(prefix+"0000000000000000", "+1")
	f.Add("edged.ratelimit.r.x", "+")
	f.Fuzz(func(t *testing.T, subject, incr string) {
		h, n, ok := parseIncrement(prefix, subject, incr)
		if !ok {
			return
		}
		if n == 0 {
			t.Fatalf("parseIncrement(%q, %q) accepted 0 tokens", subject, incr)
		}
		if s, i := prefix+hashToken(h), "+"+strconv.FormatUint(uint64(n), 10); s != subject || i != incr {
			t.Fatalf("parseIncrement(%q, %q) = %x, %d, which Sync writes as %q, %q", subject, incr, h, n, s, i)
		}
	})
}

func TestParseCounter(t *testing.T) {
	tests := []struct {
		body string
		want uint64
		ok   bool
	}{
		{`{"val":"123"}`, 123, true},
		{`{"val":"0"}`, 0, true},
		{`{"val":"-1"}`, 0, false},
		{`{"val":123}`, 0, false},
		{`{}`, 0, false},
		{`nope`, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			got, err := parseCounter([]byte(tc.body))
			if got != tc.want || (err == nil) != tc.ok {
				t.Errorf("parseCounter(%s) = %d, %v, want %d, ok %v", tc.body, got, err, tc.want, tc.ok)
			}
		})
	}
}

// TestAllowAtDoesNotAllocate: the request path pays a hash and a node
// limiter's work, no allocation.
func TestAllowAtDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	ns := startNATS(t)
	nd := newNode(t, ns.ClientURL())
	l, err := nd.f.NewLimiter(Options{Route: "allocs", Rate: limits.Rate{Events: 1, Per: time.Second}, manual: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	key := []byte("2001:db8::/64")
	now := time.Now()
	l.AllowAt(key, now)
	if a := testing.AllocsPerRun(1000, func() { l.AllowAt(key, now) }); a != 0 {
		t.Errorf("AllowAt: %v allocations, want 0", a)
	}
}

// BenchmarkAllowAt compares the request path of a fleet limiter with a node
// limiter's, for one tracked client.
func BenchmarkAllowAt(b *testing.B) {
	ns := startNATS(b)
	nd := newNode(b, ns.ClientURL())
	rate := limits.Rate{Events: limits.MaxRateEvents, Per: time.Second}
	fl, err := nd.f.NewLimiter(Options{Route: "bench", Rate: rate, manual: true})
	if err != nil {
		b.Fatal(err)
	}
	defer fl.Close()
	nl, err := limits.NewLimiter(limits.LimiterOptions{Rate: rate})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		l    interface {
			AllowAt([]byte, time.Time) (bool, time.Duration)
		}
	}{{"node", nl}, {"fleet", fl}} {
		b.Run(tc.name, func(b *testing.B) {
			key := []byte("203.0.113.7")
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				tc.l.AllowAt(key, now)
			}
		})
	}
}

// TestLimiterCollectedStops checks that a Limiter nobody references any more
// (a route's limiter replaced by a reload) stops its sync goroutine and its
// subscription once collected, without Close.
func TestLimiterCollectedStops(t *testing.T) {
	ns := startNATS(t)
	nd := newNode(t, ns.ClientURL())
	inner := func() *limiter {
		h, err := nd.f.NewLimiter(Options{Route: "gc", Rate: limits.Rate{Events: 1, Per: time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		return h.l
	}()
	for i := 0; ; i++ {
		runtime.GC()
		select {
		case <-inner.done:
			inner.close() // waits for the cleanup's close to finish
			if inner.sub.IsValid() {
				t.Error("the subscription of a collected Limiter is still valid")
			}
			return
		case <-time.After(10 * time.Millisecond):
			if i == 500 {
				t.Fatal("the sync goroutine of a collected Limiter still runs after 500 collections")
			}
		}
	}
}

// TestFleetRecovers stops the NATS server under two limiters and starts it
// again on the same port: while it is down each node limits alone and its
// spending is dropped, not replayed; once the nodes have reconnected they
// share again (the limiter's subscription is restored by the client).
func TestFleetRecovers(t *testing.T) {
	dir := t.TempDir()
	opts := &server.Options{ServerName: "fleetrate-recover", Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true}
	start := func() *server.Server {
		ns, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("NATS server not ready")
		}
		return ns
	}
	ns := start()
	opts.Port = ns.Addr().(*net.TCPAddr).Port // the restart takes the same port
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()

	clk := &fakeClock{}
	var nodes []node
	var lims []*Limiter
	heard := make([]chan struct{}, 2)
	for i := range 2 {
		nd := newNode(t, ns.ClientURL())
		heard[i] = make(chan struct{}, 8)
		l, err := nd.f.NewLimiter(Options{Route: "recover", Rate: limits.Rate{Events: 1, Per: time.Hour}, Burst: 2,
			Now: clk.Now, manual: true, heard: heard[i]})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		nodes, lims = append(nodes, nd), append(lims, l)
	}
	down := []byte("client-down")
	ns.Shutdown()
	ns.WaitForShutdown()
	for i := range nodes {
		lims[i].AllowAt(down, clk.Now())
		if err := lims[i].Sync(); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("node %d Sync with NATS down = %v, want ErrUnreachable", i, err)
		}
	}

	reconnected := make([]chan struct{}, len(nodes))
	for i, nd := range nodes {
		reconnected[i] = make(chan struct{}, 1)
		nd.nc.SetReconnectHandler(func(*nats.Conn) { reconnected[i] <- struct{}{} })
	}
	ns = start()
	for i, nd := range nodes {
		if !nd.nc.IsConnected() {
			select {
			case <-reconnected[i]:
			case <-time.After(10 * time.Second):
				t.Fatalf("node %d did not reconnect", i)
			}
		}
	}
	for _, nd := range nodes {
		if err := nd.nc.FlushTimeout(5 * time.Second); err != nil { // the subscriptions are back on the server
			t.Fatal(err)
		}
	}
	// The restarted server lost the counter stream (it lives in memory): the
	// first sync finds out and recreates it, the increments reaching the
	// other node all the same; the next syncs are stored again.
	for round, key := range [][]byte{[]byte("client-up-1"), []byte("client-up-2")} {
		for range 2 {
			if ok, _ := lims[0].AllowAt(key, clk.Now()); !ok {
				t.Fatalf("round %d: node 0 refused a fresh client after the restart", round)
			}
		}
		if err := lims[0].Sync(); err != nil && round > 0 {
			t.Fatalf("round %d: node 0 Sync after the stream was recreated = %v", round, err)
		}
		waitHeard(t, heard[1], 1)
		if ok, _ := lims[1].AllowAt(key, clk.Now()); ok {
			t.Errorf("round %d: node 1 admitted a client whose fleet burst node 0 spent after the restart", round)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if total, err := nodes[0].f.Total(ctx, "recover", []byte("client-up-2")); err != nil || total != 2 {
		t.Errorf("counter total after the restart = %d, %v; want 2", total, err)
	}
	// What node 1 spent while the server was down was dropped: it never
	// reaches node 0, whose bucket of that client is as node 0 left it.
	if s := lims[0].Stats(); s.Heard != 0 {
		t.Errorf("node 0 heard %d increments, want none: spending while down is not replayed", s.Heard)
	}
}
