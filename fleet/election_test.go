package fleet

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// testTTL is the shortest TTL allowed, so failovers take about a second.
const testTTL = MinElectionTTL

// failoverSlack is added to the promised failover bound (TTL plus one renewal
// interval) before a test calls it late: round trips and scheduling on a
// loaded machine, not the mechanism, fill it.
const failoverSlack = 2 * time.Second

type candidate struct {
	name string
	nc   *nats.Conn
	e    *Election
}

// elect starts one Election per name, each on its own connection, in order.
func elect(t *testing.T, url string, names ...string) []*candidate {
	t.Helper()
	var cs []*candidate
	for _, n := range names {
		nc, js := connect(t, url, n)
		e, err := Elect(context.Background(), js, n, ElectionOptions{TTL: testTTL, Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("Elect(%s): %v", n, err)
		}
		t.Cleanup(func() { _ = e.Close(context.Background()) })
		cs = append(cs, &candidate{n, nc, e})
	}
	return cs
}

// until waits for cond, re-checking it after every change of e.
func until(t *testing.T, e *Election, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		ch := e.Changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: not within %v", what, waitLimit)
		}
	}
}

// nextLeader waits until one of cs leads and returns it with its status.
func nextLeader(t *testing.T, cs []*candidate) (*candidate, ElectionStatus) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		chs := make([]<-chan struct{}, len(cs))
		for i, c := range cs {
			chs[i] = c.e.Changed()
			if st := c.e.Status(); st.IsLeader {
				return c, st
			}
		}
		select {
		case <-chs[0]:
		case <-chs[min(1, len(chs)-1)]:
		case <-chs[len(chs)-1]:
		case <-deadline:
			t.Fatalf("no leader among %d candidates within %v", len(cs), waitLimit)
		}
	}
}

// leaders counts the candidates that lead now.
func leaders(cs []*candidate) int {
	n := 0
	for _, c := range cs {
		if c.e.IsLeader() {
			n++
		}
	}
	return n
}

func TestElectionOneLeaderAmongThree(t *testing.T) {
	url := startNATS(t)
	cs := elect(t, url, "a", "b", "c")
	// Elect makes its first attempt before returning: the first node took the
	// lock and the others read who holds it.
	if !cs[0].e.IsLeader() {
		t.Fatalf("a.IsLeader() = false after the first Elect")
	}
	for _, c := range cs {
		if got, ok := c.e.Leader(); got != "a" || !ok {
			t.Errorf("%s.Leader() = %q, %v, want \"a\", true", c.name, got, ok)
		}
	}
	term := cs[0].e.Term()
	if term == 0 {
		t.Fatal("leader's Term() = 0")
	}
	// Watch the lock from outside: three renewals by a, and the term stays.
	_, js := connect(t, url, "observer")
	kv, err := js.KeyValue(context.Background(), DefaultElectionBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(context.Background(), DefaultElectionKey, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	var last uint64
	for i := 0; i < 3; i++ {
		select {
		case ent := <-w.Updates():
			if ent.Operation() != jetstream.KeyValuePut || holder(ent.Value()) != "a" || ent.Revision() <= last {
				t.Fatalf("lock update %d = %v %q rev %d, want a put by a after rev %d",
					i, ent.Operation(), ent.Value(), ent.Revision(), last)
			}
			last = ent.Revision()
		case <-time.After(waitLimit):
			t.Fatalf("no renewal %d within %v", i, waitLimit)
		}
		if n := leaders(cs); n != 1 || !cs[0].e.IsLeader() {
			t.Fatalf("after renewal %d: %d leaders, a leads = %v", i, n, cs[0].e.IsLeader())
		}
	}
	if got := cs[0].e.Term(); got != term {
		t.Errorf("Term() = %d after renewals, want %d (a renewal is not a new term)", got, term)
	}
}

// TestElectionStepDown ends the leader's term in each way there is and checks
// the reason, that another node takes over in time, and that the two terms
// do not overlap.
func TestElectionStepDown(t *testing.T) {
	renew := testTTL / renewsPerTTL
	tests := []struct {
		name   string
		end    func(t *testing.T, leader *candidate, url string)
		reason error
		within time.Duration // the promised bound on the takeover
	}{
		{"connection closed", func(t *testing.T, l *candidate, _ string) { l.nc.Close() }, ErrLeaseExpired, testTTL + renew},
		{"resigned", func(t *testing.T, l *candidate, _ string) {
			if err := l.e.Resign(context.Background()); err != nil {
				t.Fatalf("Resign: %v", err)
			}
		}, ErrResigned, renew},
		{"closed", func(t *testing.T, l *candidate, _ string) {
			if err := l.e.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}, ErrElectionClosed, renew},
		{"lock overwritten", func(t *testing.T, _ *candidate, url string) {
			// Someone writes the lock outside the protocol: the leader
			// must stop at once, and the intruder's write expires.
			_, js := connect(t, url, "intruder")
			kv, err := js.KeyValue(context.Background(), DefaultElectionBucket)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Put(context.Background(), DefaultElectionKey, []byte("intruder 00")); err != nil {
				t.Fatal(err)
			}
		}, ErrLockLost, testTTL + renew},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := startNATS(t)
			cs := elect(t, url, "a", "b", "c")
			ctx, term, ok := cs[0].e.Leading()
			if !ok {
				t.Fatal("a does not lead after the first Elect")
			}
			start := time.Now()
			tc.end(t, cs[0], url)
			wait(t, ctx.Done(), "end of a's term")
			var end *TermEnd
			if !errors.As(context.Cause(ctx), &end) || end.Term != term || !errors.Is(end, tc.reason) {
				t.Fatalf("cause = %v, want a TermEnd of term %d for %v", context.Cause(ctx), term, tc.reason)
			}
			if cs[0].e.IsLeader() || cs[0].e.Term() != 0 {
				t.Errorf("after the term ended: IsLeader() = %v, Term() = %d", cs[0].e.IsLeader(), cs[0].e.Term())
			}
			// Any node may lead next, a too when it lost the lock to an
			// intruder: the new term is what counts.
			next, st := nextLeader(t, cs)
			took := time.Since(start)
			t.Logf("%s took over %v after the end began (promised %v)", next.name, took, tc.within)
			if st.Term <= term {
				t.Errorf("new term %d <= old term %d", st.Term, term)
			}
			if !st.Since.After(end.At) {
				t.Errorf("overlap: %s's term %d began at %v, before a stopped at %v",
					next.name, st.Term, st.Since, end.At)
			}
			if took > tc.within+failoverSlack {
				t.Errorf("takeover after %v, promised within %v (+%v slack)", took, tc.within, failoverSlack)
			}
			if n := leaders(cs); n != 1 {
				t.Errorf("%d leaders after the takeover, want 1", n)
			}
			for _, c := range cs[1:] {
				if c == next {
					continue
				}
				until(t, c.e, c.name+" sees "+next.name, func() bool { l, _ := c.e.Leader(); return l == next.name })
			}
		})
	}
}

// TestElectionFailoverChain kills two leaders in a row: each time the next
// node takes over, terms grow, and no two terms overlap in time.
func TestElectionFailoverChain(t *testing.T) {
	url := startNATS(t)
	cs := elect(t, url, "a", "b", "c")
	type span struct {
		node       string
		term       uint64
		start, end time.Time
	}
	var spans []span
	live := cs
	for round := 0; round < 2; round++ {
		l, st := nextLeader(t, live)
		ctx, term, ok := l.e.Leading()
		if !ok || term != st.Term {
			t.Fatalf("round %d: %s Leading() = %d, %v, status term %d", round, l.name, term, ok, st.Term)
		}
		l.nc.Close() // the node dies: no renewal reaches the server
		wait(t, ctx.Done(), "end of "+l.name+"'s term")
		end := context.Cause(ctx).(*TermEnd)
		spans = append(spans, span{l.name, term, st.Since, end.At})
		var rest []*candidate
		for _, c := range live {
			if c != l {
				rest = append(rest, c)
			}
		}
		live = rest
	}
	last, st := nextLeader(t, live)
	spans = append(spans, span{last.name, st.Term, st.Since, time.Now()})
	for i := 1; i < len(spans); i++ {
		p, n := spans[i-1], spans[i]
		if n.term <= p.term {
			t.Errorf("term of %s (%d) <= term of %s before it (%d)", n.node, n.term, p.node, p.term)
		}
		if !n.start.After(p.end) {
			t.Errorf("overlap: %s began term %d at %v before %s ended term %d at %v", n.node, n.term, n.start, p.node, p.term, p.end)
		}
	}
	if n := leaders(cs); n != 1 {
		t.Errorf("%d leaders at the end, want 1", n)
	}
}

func TestElectionResignedNeverLeadsAgain(t *testing.T) {
	url := startNATS(t)
	cs := elect(t, url, "a", "b")
	if err := cs[0].e.Resign(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ := nextLeader(t, cs[1:])
	// b resigns too: the lock is free and a, retired, must not take it.
	if err := b.e.Resign(context.Background()); err != nil {
		t.Fatal(err)
	}
	until(t, cs[0].e, "a sees the lock free", func() bool { _, ok := cs[0].e.Leader(); return !ok })
	if cs[0].e.IsLeader() {
		t.Fatal("a leads again after Resign")
	}
	// A new candidate takes the free lock: proof the lock was free to take.
	c := elect(t, url, "c")[0]
	if !c.e.IsLeader() {
		t.Fatal("c does not lead the free lock")
	}
	if cs[0].e.IsLeader() {
		t.Fatal("a leads again after Resign")
	}
}

func TestElectionTTLMismatch(t *testing.T) {
	url := startNATS(t)
	elect(t, url, "a")
	_, js := connect(t, url, "b")
	_, err := Elect(context.Background(), js, "b", ElectionOptions{TTL: 2 * testTTL})
	if err == nil || !strings.Contains(err.Error(), "same TTL") {
		t.Fatalf("Elect with another TTL: err = %v, want a TTL mismatch", err)
	}
}

func TestElectionOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    ElectionOptions
		want []string // substrings of the error; none for valid
	}{
		{"zero value", ElectionOptions{}, nil},
		{"explicit", ElectionOptions{Bucket: "b_1", Key: "k-2", TTL: 5 * time.Second, Replicas: 3}, nil},
		{"short ttl", ElectionOptions{TTL: 500 * time.Millisecond}, []string{"fleet.election.ttl"}},
		{"all wrong", ElectionOptions{Bucket: "a.b", Key: "*", TTL: time.Millisecond, Replicas: 7},
			[]string{"fleet.election.ttl", "fleet.election.replicas", "fleet.election.bucket", "fleet.election.key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to name %q", err, w)
				}
			}
		})
	}
}

func TestCheckNode(t *testing.T) {
	tests := []struct {
		name, node string
		ok         bool
	}{
		{"a", "a", true},
		{"edge-1", "edge-1", true},
		{"ip-10-0-0-1.ec2.internal", "ip-10-0-0-1.ec2.internal", true},
		{"node_7", "node_7", true},
		{"empty", "", false},
		{".a", ".a", false},
		{"a.", "a.", false},
		{"a..b", "a..b", false},
		{"a b", "a b", false},
		{"a*", "a*", false},
		{"a>", "a>", false},
		{"max length", strings.Repeat("x", maxNodeLen), true},
		{"too long", strings.Repeat("x", maxNodeLen+1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckNode(tc.node); (err == nil) != tc.ok {
				t.Errorf("CheckNode(%q) = %v, want ok %v", tc.node, err, tc.ok)
			}
		})
	}
}

// TestElectionPartitionedLeader cuts the leader off without closing its
// connection, as a network partition does: it must stop at the end of its
// lease, another node takes over after the TTL, and when the partition heals
// the old leader's renewals, held in the network all along, must not disturb
// the new leader.
func TestElectionPartitionedLeader(t *testing.T) {
	url := startNATS(t)
	proxy := newPartitionProxy(t, strings.TrimPrefix(url, "nats://"))
	a := elect(t, proxy.url(), "a")[0]
	rest := elect(t, url, "b", "c")
	ctx, term, ok := a.e.Leading()
	if !ok {
		t.Fatal("a does not lead after the first Elect")
	}
	proxy.setCut(true)
	wait(t, ctx.Done(), "end of a's term")
	end := context.Cause(ctx).(*TermEnd)
	if !errors.Is(end, ErrLeaseExpired) {
		t.Fatalf("a's term ended with %v, want ErrLeaseExpired", end)
	}
	next, st := nextLeader(t, rest)
	if st.Term <= term || !st.Since.After(end.At) {
		t.Fatalf("%s took term %d at %v; a held term %d until %v", next.name, st.Term, st.Since, term, end.At)
	}
	nextCtx, _, _ := next.e.Leading()

	// Heal: a's pending writes reach the server now. Watch the lock from
	// outside until the new leader has renewed it twice more after a is back
	// in touch (a sees the new leader).
	_, js := connect(t, url, "observer")
	kv, err := js.KeyValue(context.Background(), DefaultElectionBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(context.Background(), DefaultElectionKey, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	proxy.setCut(false)
	until(t, a.e, "a sees "+next.name, func() bool { l, _ := a.e.Leader(); return l == next.name })
	for i := 0; i < 2; {
		select {
		case ent := <-w.Updates():
			if ent.Operation() != jetstream.KeyValuePut || holder(ent.Value()) != next.name {
				t.Fatalf("after the heal the lock became %v %q, want %s's renewals only", ent.Operation(), ent.Value(), next.name)
			}
			i++
		case <-time.After(waitLimit):
			t.Fatalf("no renewal by %s within %v", next.name, waitLimit)
		}
	}
	if nextCtx.Err() != nil || a.e.IsLeader() {
		t.Fatalf("after the heal: %s's term ended (%v), a leads = %v", next.name, context.Cause(nextCtx), a.e.IsLeader())
	}
}
