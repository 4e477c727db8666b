package kvstore

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/idempotency"
)

// storeKind opens a fresh store for one behaviour, configured alike: completed
// responses live an hour in memory (a fake clock) or a second in NATS (the
// TTL's minimum), responses up to 64 bytes are stored.
type storeKind struct {
	name string
	open func(t *testing.T) idempotency.Store
	// expire lets completed entries reach their TTL: it advances the fake
	// clock, or waits for the NATS server to remove key.
	expire func(t *testing.T, s idempotency.Store, key []byte)
}

const tableMaxResponse = 64

// storeKinds are the stores the behaviour table runs on: MemoryStore, whose
// behaviour is the contract, and Store on a real nats-server.
func storeKinds(t *testing.T) []storeKind {
	ns := startNATS(t, 0)
	n := connect(t, ns)
	clocks := map[idempotency.Store]*fakeClock{}
	var mu sync.Mutex
	return []storeKind{
		{
			name: "memory",
			open: func(t *testing.T) idempotency.Store {
				c := &fakeClock{now: time.Unix(1_700_000_000, 0)}
				s, err := idempotency.NewMemoryStore(idempotency.Options{TTL: time.Hour, MaxResponseBytes: tableMaxResponse, Now: c.Now})
				if err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				clocks[s] = c
				mu.Unlock()
				return s
			},
			expire: func(_ *testing.T, s idempotency.Store, _ []byte) {
				mu.Lock()
				defer mu.Unlock()
				clocks[s].Advance(time.Hour)
			},
		},
		{
			name: "nats",
			open: func(t *testing.T) idempotency.Store {
				return openStore(t, n, Options{Bucket: uniqueBucket(), Node: "a", TTL: time.Second, MaxResponseBytes: tableMaxResponse})
			},
			expire: func(t *testing.T, s idempotency.Store, key []byte) {
				waitGone(t, s.(*Store), key, 10*time.Second)
			},
		},
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var (
	fpA = [32]byte{1}
	fpB = [32]byte{2}
)

// storeCheck drives one store through Begin, Complete and Abort.
type storeCheck struct {
	t *testing.T
	s idempotency.Store
}

func (c storeCheck) begin(key string, fp [32]byte, want idempotency.State) idempotency.Begin {
	c.t.Helper()
	b, err := c.s.Begin(context.Background(), []byte(key), fp)
	if err != nil || b.State != want {
		c.t.Fatalf("Begin(%.20q) = %v, %v, want %v", key, b.State, err, want)
	}
	return b
}

func (c storeCheck) complete(key string, r *idempotency.StoredResponse) {
	c.t.Helper()
	if err := c.s.Complete(context.Background(), []byte(key), r); err != nil {
		c.t.Fatalf("Complete(%.20q): %v", key, err)
	}
}

func (c storeCheck) abort(key string) {
	c.t.Helper()
	if err := c.s.Abort(context.Background(), []byte(key)); err != nil {
		c.t.Fatalf("Abort(%.20q): %v", key, err)
	}
}

// closedWithin fails unless done closes within limit (a bound on a wait that
// JetStream ends, not a sleep).
func closedWithin(t *testing.T, done <-chan struct{}, limit time.Duration, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s: Done not closed after %v", what, limit)
	}
}

func isClosed(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

func response(body string) *idempotency.StoredResponse {
	return &idempotency.StoredResponse{StatusCode: 201, Body: []byte(body)}
}

// TestStoreBehaviour runs the behaviours of the idempotency.Store contract on
// MemoryStore and on Store: the fleet store must behave as the single-node one.
func TestStoreBehaviour(t *testing.T) {
	behaviours := []struct {
		name string
		run  func(c storeCheck, kind storeKind)
	}{
		{"new, in flight, mismatch, complete wakes, replay", func(c storeCheck, _ storeKind) {
			c.begin("k", fpA, idempotency.StateNew)
			b := c.begin("k", fpA, idempotency.StateInFlight)
			c.begin("k", fpB, idempotency.StateMismatch)
			if isClosed(b.Done) {
				c.t.Fatal("Done closed while the key is in flight")
			}
			want := &idempotency.StoredResponse{StatusCode: 202, Header: []idempotency.StoredHeader{
				{Name: []byte("Content-Type"), Value: []byte("application/json")},
				{Name: []byte("X-Empty"), Value: []byte{}},
				{Name: []byte("X-Charge"), Value: []byte("1")},
			}, Body: []byte(`{"charge":1}`)}
			c.complete("k", want)
			closedWithin(c.t, b.Done, 10*time.Second, "waiter after Complete")
			got := c.begin("k", fpA, idempotency.StateReplay).Response
			if !sameResponse(got, want) {
				c.t.Errorf("replayed %+v, want %+v", got, want)
			}
			c.begin("k", fpB, idempotency.StateMismatch)
		}},
		{"abort releases the key and wakes the waiter", func(c storeCheck, _ storeKind) {
			c.begin("k", fpA, idempotency.StateNew)
			b := c.begin("k", fpA, idempotency.StateInFlight)
			c.abort("k")
			closedWithin(c.t, b.Done, 10*time.Second, "waiter after Abort")
			c.begin("k", fpB, idempotency.StateNew) // a fresh attempt, any request
			c.abort("k")
		}},
		{"complete or abort of a key not in flight fails", func(c storeCheck, _ storeKind) {
			ctx := context.Background()
			if err := c.s.Complete(ctx, []byte("nope"), response("x")); err == nil {
				c.t.Error("Complete of an unknown key = nil, want an error")
			}
			if err := c.s.Abort(ctx, []byte("nope")); err == nil {
				c.t.Error("Abort of an unknown key = nil, want an error")
			}
			c.begin("k", fpA, idempotency.StateNew)
			c.complete("k", response("x"))
			if err := c.s.Complete(ctx, []byte("k"), response("y")); err == nil {
				c.t.Error("Complete of a completed key = nil, want an error")
			}
			if err := c.s.Abort(ctx, []byte("k")); err == nil {
				c.t.Error("Abort of a completed key = nil, want an error")
			}
			if r := c.begin("k", fpA, idempotency.StateReplay).Response; string(r.Body) != "x" {
				c.t.Errorf("after refused writes replayed %q, want %q", r.Body, "x")
			}
		}},
		{"a response over MaxResponseBytes is released, not stored", func(c storeCheck, _ storeKind) {
			c.begin("big", fpA, idempotency.StateNew)
			b := c.begin("big", fpA, idempotency.StateInFlight)
			c.complete("big", response(strings.Repeat("b", tableMaxResponse+1)))
			closedWithin(c.t, b.Done, 10*time.Second, "waiter after a too large Complete")
			c.begin("big", fpA, idempotency.StateNew)
			c.complete("big", response(strings.Repeat("b", tableMaxResponse)))
			c.begin("big", fpA, idempotency.StateReplay)
		}},
		{"keys are lent: the caller reuses their bytes", func(c storeCheck, _ storeKind) {
			buf := []byte("first")
			if b, err := c.s.Begin(context.Background(), buf, fpA); err != nil || b.State != idempotency.StateNew {
				c.t.Fatalf("Begin(first) = %v, %v", b.State, err)
			}
			copy(buf, "other")
			if b, err := c.s.Begin(context.Background(), buf, fpB); err != nil || b.State != idempotency.StateNew {
				c.t.Fatalf("Begin(other) in the reused buffer = %v, %v, want new", b.State, err)
			}
			c.complete("first", response("1"))
			c.complete("other", response("2"))
			if r := c.begin("first", fpA, idempotency.StateReplay).Response; string(r.Body) != "1" {
				c.t.Errorf("first replayed %q, want 1", r.Body)
			}
		}},
		{"untrusted key bytes are distinct keys", func(c storeCheck, _ storeKind) {
			keys := []string{"", "\x00", "a.b", "a", "A", "*", ">", "a b", "$KV.x", "é", strings.Repeat("k", 10_000), "r\x00client\x00order-1"}
			for i, k := range keys {
				c.begin(k, fpA, idempotency.StateNew)
				c.complete(k, response(strconv.Itoa(i)))
			}
			for i, k := range keys {
				if r := c.begin(k, fpA, idempotency.StateReplay).Response; string(r.Body) != strconv.Itoa(i) {
					c.t.Errorf("key %.20q replayed %q, want %d", k, r.Body, i)
				}
			}
		}},
		{"complete and abort settle under a cancelled context (a draining server)", func(c storeCheck, _ storeKind) {
			cancelled, cancel := context.WithCancel(context.Background())
			cancel()
			c.begin("done", fpA, idempotency.StateNew)
			c.begin("failed", fpA, idempotency.StateNew)
			if err := c.s.Complete(cancelled, []byte("done"), response("kept")); err != nil {
				c.t.Fatalf("Complete under a cancelled context: %v", err)
			}
			if err := c.s.Abort(cancelled, []byte("failed")); err != nil {
				c.t.Fatalf("Abort under a cancelled context: %v", err)
			}
			if r := c.begin("done", fpA, idempotency.StateReplay).Response; string(r.Body) != "kept" {
				c.t.Errorf("replayed %q, want kept", r.Body)
			}
			c.begin("failed", fpA, idempotency.StateNew)
		}},
		{"a completed response expires after TTL", func(c storeCheck, kind storeKind) {
			c.begin("k", fpA, idempotency.StateNew)
			c.complete("k", response("old"))
			c.begin("k", fpA, idempotency.StateReplay)
			kind.expire(c.t, c.s, []byte("k"))
			c.begin("k", fpB, idempotency.StateNew)
			c.complete("k", response("new"))
			if r := c.begin("k", fpB, idempotency.StateReplay).Response; string(r.Body) != "new" {
				c.t.Errorf("after expiry replayed %q, want new", r.Body)
			}
		}},
	}
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			for _, bh := range behaviours {
				t.Run(bh.name, func(t *testing.T) {
					bh.run(storeCheck{t: t, s: kind.open(t)}, kind)
				})
			}
		})
	}
}

func sameResponse(a, b *idempotency.StoredResponse) bool {
	if a.StatusCode != b.StatusCode || !bytes.Equal(a.Body, b.Body) || len(a.Header) != len(b.Header) {
		return false
	}
	for i := range a.Header {
		if !bytes.Equal(a.Header[i].Name, b.Header[i].Name) || !bytes.Equal(a.Header[i].Value, b.Header[i].Value) {
			return false
		}
	}
	return true
}
