package kvstore

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/idempotency"
)

// twoNodes opens one bucket through two connections, as two edged nodes
// would: a and b share nothing but the NATS server.
func twoNodes(t *testing.T, o Options) (a, b storeCheck) {
	t.Helper()
	ns := startNATS(t, 0)
	o.Bucket = uniqueBucket()
	oa, ob := o, o
	oa.Node, ob.Node = "node-a", "node-b"
	return storeCheck{t: t, s: openStore(t, connect(t, ns), oa)}, storeCheck{t: t, s: openStore(t, connect(t, ns), ob)}
}

// TestFleetDuplicateOnOtherNode: a key completed on node A replays on node B,
// and the same key with another request is refused there too.
func TestFleetDuplicateOnOtherNode(t *testing.T) {
	a, b := twoNodes(t, Options{})
	a.begin("pay-1", fpA, idempotency.StateNew)
	a.complete("pay-1", response(`{"charge":1}`))
	if r := b.begin("pay-1", fpA, idempotency.StateReplay).Response; string(r.Body) != `{"charge":1}` || r.StatusCode != 201 {
		t.Errorf("node B replayed %d %q, want node A's 201", r.StatusCode, r.Body)
	}
	b.begin("pay-1", fpB, idempotency.StateMismatch)
}

// TestFleetWaitForOtherNode: while node A runs a key, node B's duplicate is in
// flight and is woken by A's Complete (through a KV watch), then replays; a
// key A releases is free on B.
func TestFleetWaitForOtherNode(t *testing.T) {
	tests := []struct {
		name    string
		settle  func(a storeCheck, key string)
		wantNow idempotency.State
	}{
		{"complete", func(a storeCheck, key string) { a.complete(key, response("done")) }, idempotency.StateReplay},
		{"abort", func(a storeCheck, key string) { a.abort(key) }, idempotency.StateNew},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := twoNodes(t, Options{})
			a.begin("k", fpA, idempotency.StateNew)
			if n := a.s.(*Store).InFlight(); n != 1 {
				t.Errorf("A InFlight() = %d, want 1", n)
			}
			w1 := b.begin("k", fpA, idempotency.StateInFlight)
			w2 := b.begin("k", fpA, idempotency.StateInFlight) // shares w1's watch
			b.begin("k", fpB, idempotency.StateMismatch)
			if isClosed(w1.Done) || isClosed(w2.Done) {
				t.Fatal("B's waiters woken while A still runs the key")
			}
			tc.settle(a, "k")
			if n := a.s.(*Store).InFlight(); n != 0 {
				t.Errorf("A InFlight() after settling = %d, want 0", n)
			}
			closedWithin(t, w1.Done, 10*time.Second, "first waiter on B")
			closedWithin(t, w2.Done, 10*time.Second, "second waiter on B")
			got := b.begin("k", fpA, tc.wantNow)
			if tc.wantNow == idempotency.StateReplay && string(got.Response.Body) != "done" {
				t.Errorf("B replayed %q, want done", got.Response.Body)
			}
		})
	}
}

// TestFleetDeadNodeClaimExpires: node A claims a key and dies (its connection
// closes, so its renewals stop). B's duplicate waits, is woken by the
// claim's expiry after ClaimTTL, and runs the request itself.
func TestFleetDeadNodeClaimExpires(t *testing.T) {
	ns := startNATS(t, 0)
	o := Options{Bucket: uniqueBucket(), ClaimTTL: time.Second}
	na := connect(t, ns)
	a := storeCheck{t: t, s: openStore(t, na, o)}
	b := storeCheck{t: t, s: openStore(t, connect(t, ns), o)}
	a.begin("k", fpA, idempotency.StateNew)
	na.nc.Close() // node A dies holding the claim
	start := time.Now()
	w := b.begin("k", fpA, idempotency.StateInFlight)
	closedWithin(t, w.Done, 10*time.Second, "waiter on a dead node's claim")
	b.begin("k", fpA, idempotency.StateNew)
	b.complete("k", response("retried"))
	t.Logf("claim of the dead node freed after %v (ClaimTTL %v)", time.Since(start).Round(time.Millisecond), o.ClaimTTL)
	// A's late settling write cannot reach the bucket; it still ends A's claim.
	if err := a.s.Abort(context.Background(), []byte("k")); err == nil {
		t.Error("Abort on a closed connection = nil, want an error")
	}
	b.begin("k", fpA, idempotency.StateReplay)
}

// TestFleetLiveClaimRenewed: a request running for several ClaimTTLs keeps
// its key, because its node renews the claim; a duplicate elsewhere keeps
// waiting rather than running it twice. The wait is the behaviour under test
// (time passing), so it is a timer, not a sleep standing in for a signal.
func TestFleetLiveClaimRenewed(t *testing.T) {
	// Renewals every ClaimTTL/3 leave a loaded machine two thirds of
	// ClaimTTL of slack; 2s keeps the test from depending on the scheduler.
	const claimTTL = 2 * time.Second
	a, b := twoNodes(t, Options{ClaimTTL: claimTTL})
	a.begin("slow", fpA, idempotency.StateNew)
	w := b.begin("slow", fpA, idempotency.StateInFlight)
	select {
	case <-w.Done:
		// A renewal rewrites the claim; a woken waiter must still find it.
		b.begin("slow", fpA, idempotency.StateInFlight)
	case <-time.After(2 * claimTTL):
	}
	b.begin("slow", fpA, idempotency.StateInFlight)
	a.complete("slow", response("once"))
	if r := b.begin("slow", fpA, idempotency.StateReplay).Response; string(r.Body) != "once" {
		t.Errorf("replayed %q, want once", r.Body)
	}
}

// TestFleetLostClaimCannotComplete: if a claim expires and another node takes
// the key (the partition case), the first holder's Complete fails and does
// not overwrite the second's answer.
func TestFleetLostClaimCannotComplete(t *testing.T) {
	a, b := twoNodes(t, Options{ClaimTTL: time.Second})
	as := a.s.(*Store)
	a.begin("k", fpA, idempotency.StateNew)
	// Stop A's renewals as a partition would, without closing A.
	as.mu.Lock()
	c := as.claims[bucketKey([]byte("k"))]
	as.mu.Unlock()
	c.mu.Lock()
	c.timer.Stop()
	c.mu.Unlock()
	closedWithin(t, b.begin("k", fpA, idempotency.StateInFlight).Done, 10*time.Second, "waiter on an unrenewed claim")
	b.begin("k", fpA, idempotency.StateNew)
	b.complete("k", response("b"))
	err := a.s.Complete(context.Background(), []byte("k"), response("a"))
	if err == nil || !strings.Contains(err.Error(), "claim lost") {
		t.Errorf("late Complete on A = %v, want a claim lost error", err)
	}
	if r := a.begin("k", fpA, idempotency.StateReplay).Response; string(r.Body) != "b" {
		t.Errorf("replayed %q, want b (the late write must not win)", r.Body)
	}
}

// TestFleetRaceOneWinner: many nodes begin the same key at once; exactly one
// gets StateNew.
func TestFleetRaceOneWinner(t *testing.T) {
	ns := startNATS(t, 0)
	o := Options{Bucket: uniqueBucket()}
	const nodes = 4
	stores := make([]*Store, nodes)
	for i := range stores {
		stores[i] = openStore(t, connect(t, ns), o)
	}
	states := make(chan idempotency.State, nodes*2)
	errs := make(chan error, nodes*2)
	for _, s := range stores {
		for range 2 {
			go func() {
				b, err := s.Begin(context.Background(), []byte("race"), fpA)
				states <- b.State
				errs <- err
			}()
		}
	}
	won := 0
	for range nodes * 2 {
		if err := <-errs; err != nil {
			t.Errorf("Begin: %v", err)
		}
		if <-states == idempotency.StateNew {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d Begins won the key, want exactly 1", won)
	}
}

// TestBucketFull: a full bucket refuses new keys with ErrStoreFull (the
// Handler's 503), and keeps the keys it has.
func TestBucketFull(t *testing.T) {
	ns := startNATS(t, 0)
	s := storeCheck{t: t, s: openStore(t, connect(t, ns), Options{Bucket: uniqueBucket(), MaxBucketBytes: 4096})}
	s.begin("first", fpA, idempotency.StateNew)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = s.s.Begin(context.Background(), []byte{byte(i), byte(i >> 8)}, fpA)
	}
	if !errors.Is(err, idempotency.ErrStoreFull) {
		t.Fatalf("Begin on a full bucket = %v, want ErrStoreFull", err)
	}
	s.begin("first", fpA, idempotency.StateInFlight)
}

// TestMaxPayloadBoundsValue: a response within MaxResponseBytes but larger
// than a NATS message may carry is released, not stored: the write would
// fail, and the key must not stay claimed.
func TestMaxPayloadBoundsValue(t *testing.T) {
	ns := startNATS(t, 4096)
	s := storeCheck{t: t, s: openStore(t, connect(t, ns), Options{Bucket: uniqueBucket(), MaxResponseBytes: 1 << 20})}
	s.begin("k", fpA, idempotency.StateNew)
	s.complete("k", response(strings.Repeat("x", 8192)))
	s.begin("k", fpA, idempotency.StateNew)
	s.complete("k", response(strings.Repeat("x", 2048)))
	s.begin("k", fpA, idempotency.StateReplay)
}

func TestOptionsInvalid(t *testing.T) {
	ns := startNATS(t, 0)
	n := connect(t, ns)
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"ttl below 1s", Options{TTL: 500 * time.Millisecond}, "ttl"},
		{"claim ttl below 1s", Options{ClaimTTL: time.Millisecond}, "claim_ttl"},
		{"negative max response", Options{MaxResponseBytes: -1}, "max_response_bytes"},
		{"negative max bucket", Options{MaxBucketBytes: -1}, "max_bucket_bytes"},
		{"negative watch timeout", Options{WatchTimeout: -1}, "watch_timeout"},
		{"replicas 2", Options{Replicas: 2}, "replicas"},
		{"bucket name", Options{Bucket: "no spaces"}, "bucket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), n.js, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%+v) = %v, want an error about %s", tc.o, err, tc.want)
			}
		})
	}
}

// TestUnreachableRefusesThenRecovers: with NATS down, Begin fails (the
// Handler answers 503: a keyed request is refused, not run unguarded); when
// NATS is back, the node reconnects and the answers stored before (file
// storage) are still replayed.
func TestUnreachableRefusesThenRecovers(t *testing.T) {
	dir := t.TempDir()
	ns := startNATSWith(t, func(o *server.Options) { o.StoreDir = dir })
	port := ns.Addr().(*net.TCPAddr).Port
	disconnected, reconnected := make(chan struct{}, 1), make(chan struct{}, 1)
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { signal(disconnected) }),
		nats.ReconnectHandler(func(*nats.Conn) { signal(reconnected) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s := storeCheck{t: t, s: openStore(t, node{nc: nc, js: js}, Options{Bucket: uniqueBucket()})}
	s.begin("kept", fpA, idempotency.StateNew)
	s.complete("kept", response("before"))

	ns.Shutdown()
	ns.WaitForShutdown()
	<-disconnected
	start := time.Now()
	_, err = s.s.Begin(context.Background(), []byte("new"), fpA)
	if err == nil || errors.Is(err, idempotency.ErrStoreFull) {
		t.Fatalf("Begin with NATS down = %v, want an error other than ErrStoreFull", err)
	}
	t.Logf("Begin with NATS down failed after %v: %v", time.Since(start), err)

	startNATSWith(t, func(o *server.Options) { o.StoreDir, o.Port = dir, port })
	<-reconnected
	got, err := s.s.Begin(context.Background(), []byte("kept"), fpA)
	if err != nil || got.State != idempotency.StateReplay || string(got.Response.Body) != "before" {
		t.Fatalf("Begin(kept) after NATS came back = %v, %v, want the replay of before", got.State, err)
	}
	// The refused Begin left no claim behind to block the key.
	s.begin("new", fpA, idempotency.StateNew)
}

// signal notes an event on c without blocking the NATS callback goroutine.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// TestFleetHammer: two nodes, many goroutines each, all sending the same few
// keys at once: every key runs exactly once, and every duplicate on either
// node gets that run's answer.
func TestFleetHammer(t *testing.T) {
	a, b := twoNodes(t, Options{})
	const keys, workers = 10, 8
	var runs [keys]atomic.Int64
	answers := make([]sync.Map, keys) // body -> struct{}
	var wg sync.WaitGroup
	for w := range 2 * workers {
		s := []idempotency.Store{a.s, b.s}[w%2]
		wg.Go(func() {
			for k := range keys {
				key := []byte("hammer-" + strconv.Itoa(k))
				for attempt := 0; ; attempt++ {
					if attempt == 100 {
						t.Errorf("key %d: no answer after %d attempts", k, attempt)
						return
					}
					bg, err := s.Begin(context.Background(), key, fpA)
					if err != nil {
						t.Errorf("Begin: %v", err)
						return
					}
					switch bg.State {
					case idempotency.StateNew:
						body := "run-" + strconv.FormatInt(runs[k].Add(1), 10) + "-worker-" + strconv.Itoa(w)
						if err := s.Complete(context.Background(), key, response(body)); err != nil {
							t.Errorf("Complete: %v", err)
							return
						}
						answers[k].Store(body, struct{}{})
					case idempotency.StateReplay:
						answers[k].Store(string(bg.Response.Body), struct{}{})
					case idempotency.StateInFlight:
						<-bg.Done
						continue
					default:
						t.Errorf("key %d: state %v", k, bg.State)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	for k := range keys {
		if n := runs[k].Load(); n != 1 {
			t.Errorf("key %d ran %d times, want 1", k, n)
		}
		distinct := 0
		answers[k].Range(func(any, any) bool { distinct++; return true })
		if distinct != 1 {
			t.Errorf("key %d got %d distinct answers, want 1", k, distinct)
		}
	}
}

// TestDerive: stores derived for routes share the bucket (and so the fleet's
// keys) but apply their own limits, and refuse invalid ones.
func TestDerive(t *testing.T) {
	ns := startNATS(t, 0)
	base := openStore(t, connect(t, ns), Options{Bucket: uniqueBucket(), MaxResponseBytes: 8})
	small, err := base.Derive(Options{})
	if err != nil {
		t.Fatal(err)
	}
	large, err := base.Derive(Options{MaxResponseBytes: 64, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if small.maxResponse != 8 || small.ttl != idempotency.DefaultTTL || large.maxResponse != 64 || large.ttl != time.Hour {
		t.Errorf("derived limits: small %d %v, large %d %v", small.maxResponse, small.ttl, large.maxResponse, large.ttl)
	}
	s, l := storeCheck{t: t, s: small}, storeCheck{t: t, s: large}
	s.begin("k", fpA, idempotency.StateNew)
	s.complete("k", response("0123456789")) // over small's 8 bytes: released
	l.begin("k", fpA, idempotency.StateNew)
	if n := l.s.(*Store).InFlight(); n != 1 || small.InFlight() != 0 {
		t.Errorf("InFlight: large %d, small %d, want 1 and 0", n, small.InFlight())
	}
	l.complete("k", response("0123456789"))
	s.begin("k", fpA, idempotency.StateReplay) // one bucket
	if _, err := base.Derive(Options{TTL: time.Millisecond}); err == nil {
		t.Error("Derive with a TTL below 1s = nil error")
	}
}
