package events

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// waitLimit bounds every wait in these tests; nothing legitimate takes it.
const waitLimit = 20 * time.Second

func openTest(t *testing.T, dir string, opts Options) *Server {
	t.Helper()
	opts.StoreDir = dir
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// call is one invocation as the function saw it.
type call struct {
	id, source, typ, specVersion, time, traceParent, key, contentType, method string
	body                                                                      string
}

// recorder is an Invoker that records calls and answers with verdict.
type recorder struct {
	verdict func(c call, n int) (int, http.Header, error) // n: calls of this id so far, 1-based
	mu      sync.Mutex
	calls   []call
	perID   map[string]int
	ch      chan call
}

func newRecorder(verdict func(c call, n int) (int, http.Header, error)) *recorder {
	if verdict == nil {
		verdict = func(call, int) (int, http.Header, error) { return http.StatusOK, nil, nil }
	}
	return &recorder{verdict: verdict, perID: map[string]int{}, ch: make(chan call, 1000)}
}

func (r *recorder) Invoke(ctx context.Context, req *http.Request) (int, http.Header, error) {
	body, _ := io.ReadAll(req.Body)
	c := call{
		id: req.Header.Get(HeaderID), source: req.Header.Get(HeaderSource), typ: req.Header.Get(HeaderType),
		specVersion: req.Header.Get(HeaderSpecVersion), time: req.Header.Get(HeaderTime),
		traceParent: req.Header.Get(HeaderTraceParent), key: req.Header.Get(HeaderPartitionKey),
		contentType: req.Header.Get("Content-Type"), method: req.Method, body: string(body),
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.perID[c.id]++
	n := r.perID[c.id]
	r.mu.Unlock()
	status, h, err := r.verdict(c, n)
	r.ch <- c
	return status, h, err
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.perID[id]
}

// next waits for the next call.
func (r *recorder) next(t *testing.T) call {
	t.Helper()
	select {
	case c := <-r.ch:
		return c
	case <-time.After(waitLimit):
		t.Fatalf("no invocation within %s", waitLimit)
		return call{}
	}
}

// eventually polls cond (JetStream state that has no notification) with a
// bounded number of short waits.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", waitLimit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settled reports whether the trigger's consumer has nothing pending or
// unacknowledged.
func settled(t *testing.T, sub *Subscription) func() bool {
	return func() bool {
		info, err := sub.cons.Info(context.Background())
		if err != nil {
			t.Fatalf("consumer info: %v", err)
		}
		return info.NumPending == 0 && info.NumAckPending == 0
	}
}

// fakeClock drives schedules: After registers a waiter (announced on
// registered) that fires when Advance passes its deadline.
type fakeClock struct {
	mu         sync.Mutex
	now        time.Time
	waiters    []fakeWaiter
	registered chan time.Time
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, registered: make(chan time.Time, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	at := c.now.Add(d)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at, ch})
	c.registered <- at
	return ch
}

func (c *fakeClock) Advance(to time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = to
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(to) {
			w.ch <- to
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// awaitWaiters waits until n waiters registered for at.
func (c *fakeClock) awaitWaiters(t *testing.T, n int, at time.Time) {
	t.Helper()
	for n > 0 {
		select {
		case got := <-c.registered:
			if got.Equal(at) {
				n--
			}
		case <-time.After(waitLimit):
			t.Fatalf("schedulers did not wait for %s", at)
		}
	}
}
