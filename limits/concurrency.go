package limits

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Concurrency bounds how many executions of guest code run at once, so that
// wall-clock deadlines stay honest: with more runnable guests than cores a
// guest could spend its whole budget waiting for a CPU. It is a counting
// semaphore shared fairly between classes (one per function, see NewClass):
//
//   - each class waits in its own FIFO queue;
//   - a freed slot goes to the waiting class that holds the fewest slots
//     (ties: the class served longest ago, round-robin), so a class holds at most about
//     ceil(cap / classes that want slots) while another class waits;
//   - a holder may give its slot up at a safe point (Yield) when a waiting
//     class holds fewer, which is how a class that filled every slot before
//     others arrived is brought back to its share, and how a class that
//     holds none gets one at the next safe point.
//
// TryAcquire never jumps a queue. All methods are safe for concurrent use.
// Create it with NewConcurrency.
type Concurrency struct {
	mu     sync.Mutex
	size   int
	cur    int
	nwait  int
	seq    uint64              // arrival order of waiters, across classes
	grants uint64              // slots granted so far, to order classes by last service
	queued []*ConcurrencyClass // classes with at least one waiter
	// nqueued mirrors len(queued) for Yield's lock-free fast path.
	nqueued atomic.Int32
	// def is the class of the Concurrency's own Acquire and Release.
	def ConcurrencyClass
}

// ConcurrencyClass is one claimant of a Concurrency's slots, typically one
// function: slots are shared fairly between classes, and in arrival order
// within a class. Create it with Concurrency.NewClass.
type ConcurrencyClass struct {
	c       *Concurrency
	held    int      // slots held; guarded by c.mu
	served  uint64   // c.grants at k's last grant; guarded by c.mu
	waiters []waiter // FIFO; guarded by c.mu
}

// waiter is one blocked Acquire: ready is closed when it is granted a slot.
type waiter struct {
	ready chan struct{}
	seq   uint64
}

// NewConcurrency returns a limiter of n slots; n <= 0 means
// runtime.GOMAXPROCS(0), about the number of cores.
func NewConcurrency(n int) *Concurrency {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	c := &Concurrency{size: n}
	c.def.c = c
	return c
}

// NewClass returns a new class of claimants of c's slots. A class needs no
// closing: one that holds and waits for nothing costs nothing.
func (c *Concurrency) NewClass() *ConcurrencyClass { return &ConcurrencyClass{c: c} }

// Acquire takes a slot in c's default class; see ConcurrencyClass.Acquire
// (without a wait bound: only ctx ends the wait).
func (c *Concurrency) Acquire(ctx context.Context) error { return c.def.Acquire(ctx, 0) }

// TryAcquire takes a slot in c's default class if one is free and nobody is
// waiting, and reports whether it did.
func (c *Concurrency) TryAcquire() bool { return c.def.TryAcquire() }

// Release frees a slot taken by Acquire or TryAcquire of c itself.
func (c *Concurrency) Release() { c.def.Release() }

// Acquire takes a slot, waiting in the class's line until the fairness rule
// grants one, ctx is done (it returns ctx.Err()) or maxWait has passed (it
// returns ErrWaitTimeout); maxWait <= 0 leaves the wait to ctx. A failed
// Acquire holds nothing. A ctx that is already done fails even if a slot is
// free. On success the caller must call Release exactly once. The uncontended
// path neither allocates nor reads the clock; waiting allocates a channel
// (and a timer under maxWait).
func (k *ConcurrencyClass) Acquire(ctx context.Context, maxWait time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := k.c
	c.mu.Lock()
	if c.cur < c.size && len(c.queued) == 0 {
		c.cur++
		k.held++
		c.grants++
		k.served = c.grants
		c.mu.Unlock()
		return nil
	}
	return k.waitLocked(ctx, maxWait)
}

// waitLocked queues a waiter of k and blocks until it is granted a slot, ctx
// is done or maxWait passes. c.mu is held on entry and released on return.
func (k *ConcurrencyClass) waitLocked(ctx context.Context, maxWait time.Duration) error {
	c := k.c
	ready := make(chan struct{})
	c.seq++
	k.waiters = append(k.waiters, waiter{ready: ready, seq: c.seq})
	c.nwait++
	if len(k.waiters) == 1 {
		c.queued = append(c.queued, k)
		c.nqueued.Store(int32(len(c.queued)))
	}
	c.mu.Unlock()

	var expired <-chan time.Time
	if maxWait > 0 {
		t := time.NewTimer(maxWait)
		defer t.Stop()
		expired = t.C
	}
	var err error
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-expired:
		err = ErrWaitTimeout
	}
	c.mu.Lock()
	select {
	case <-ready:
		// Granted while we were giving up: hand the slot on.
		k.held--
		c.cur--
	default:
		k.removeLocked(ready)
	}
	// Leaving a queue may let the next waiter in.
	c.grantLocked()
	c.mu.Unlock()
	return err
}

// removeLocked takes the waiter ready out of k's queue, and k out of the
// queued classes if that was its last waiter.
func (k *ConcurrencyClass) removeLocked(ready chan struct{}) {
	c := k.c
	for i, w := range k.waiters {
		if w.ready == ready {
			k.waiters = append(k.waiters[:i], k.waiters[i+1:]...)
			c.nwait--
			break
		}
	}
	if len(k.waiters) == 0 {
		k.waiters = nil
		c.dequeueLocked(k)
	}
}

// dequeueLocked removes k, whose queue is empty, from the queued classes.
func (c *Concurrency) dequeueLocked(k *ConcurrencyClass) {
	for i, q := range c.queued {
		if q == k {
			c.queued = append(c.queued[:i], c.queued[i+1:]...)
			break
		}
	}
	c.nqueued.Store(int32(len(c.queued)))
}

// TryAcquire takes a slot if one is free and nobody is waiting, and reports
// whether it did.
func (k *ConcurrencyClass) TryAcquire() bool {
	c := k.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur < c.size && len(c.queued) == 0 {
		c.cur++
		k.held++
		c.grants++
		k.served = c.grants
		return true
	}
	return false
}

// Release frees a slot taken by k's Acquire or TryAcquire, handing it to the
// waiter the fairness rule picks. Releasing more than k acquired is a
// programming error and panics.
func (k *ConcurrencyClass) Release() {
	c := k.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if k.held <= 0 {
		panic("limits: Concurrency.Release without a matching Acquire")
	}
	k.held--
	c.cur--
	c.grantLocked()
}

// Yield is called by a holder of one of k's slots at a point where it can
// stop (a guest's fuel check). If a class other than k is waiting and holds
// no slot, or at least two fewer than k, or fewer than k at all when rotate
// is true (the holder has had its turn), the slot goes to that class's longest waiter
// and the caller queues again behind k's own waiters, waiting as Acquire
// does. It reports whether it gave the slot up; when it did and err is not
// nil, the caller holds no slot. Without waiters of another class it costs
// one atomic load.
func (k *ConcurrencyClass) Yield(ctx context.Context, maxWait time.Duration, rotate bool) (yielded bool, err error) {
	return k.YieldWith(ctx, maxWait, rotate, nil)
}

// YieldWith is Yield that calls onYield, when not nil, once the slot has been
// handed over and before the wait: a caller holding a slot of another limiter
// gives that up there, so it waits holding neither. onYield runs with k's
// limiter locked and must not call into it.
func (k *ConcurrencyClass) YieldWith(ctx context.Context, maxWait time.Duration, rotate bool, onYield func()) (yielded bool, err error) {
	c := k.c
	if c.nqueued.Load() == 0 {
		return false, nil
	}
	c.mu.Lock()
	var to *ConcurrencyClass
	for _, q := range c.queued {
		if q == k || q.held >= k.held || (!rotate && q.held > 0 && q.held+1 >= k.held) {
			continue
		}
		if to == nil || q.before(to) {
			to = q
		}
	}
	if to == nil {
		c.mu.Unlock()
		return false, nil
	}
	k.held--
	c.grantToLocked(to)
	if onYield != nil {
		onYield()
	}
	return true, k.waitLocked(ctx, maxWait)
}

// before reports whether queued class q is to be served before queued class
// o: it holds fewer slots, or as many and was served longer ago, or was
// served as long ago and has the longer waiter.
func (q *ConcurrencyClass) before(o *ConcurrencyClass) bool {
	if q.held != o.held {
		return q.held < o.held
	}
	if q.served != o.served {
		return q.served < o.served
	}
	return q.waiters[0].seq < o.waiters[0].seq
}

// grantLocked hands free slots to waiters, each to the queued class that
// comes first (before).
func (c *Concurrency) grantLocked() {
	for c.cur < c.size && len(c.queued) > 0 {
		best := c.queued[0]
		for _, q := range c.queued[1:] {
			if q.before(best) {
				best = q
			}
		}
		c.cur++
		c.grantToLocked(best)
	}
}

// grantToLocked gives a slot already counted in c.cur to k's longest waiter.
func (c *Concurrency) grantToLocked(k *ConcurrencyClass) {
	w := k.waiters[0]
	k.waiters[0] = waiter{}
	k.waiters = k.waiters[1:]
	c.nwait--
	k.held++
	c.grants++
	k.served = c.grants
	if len(k.waiters) == 0 {
		k.waiters = nil // drop the drained backing array
		c.dequeueLocked(k)
	}
	close(w.ready)
}

// InUse returns the number of slots currently held.
func (c *Concurrency) InUse() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// Waiting returns the number of Acquire calls waiting for a slot.
func (c *Concurrency) Waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nwait
}

// Held returns the number of slots k holds.
func (k *ConcurrencyClass) Held() int {
	k.c.mu.Lock()
	defer k.c.mu.Unlock()
	return k.held
}

// Waiting returns the number of k's Acquire calls waiting for a slot.
func (k *ConcurrencyClass) Waiting() int {
	k.c.mu.Lock()
	defer k.c.mu.Unlock()
	return len(k.waiters)
}

// Cap returns the number of slots.
func (c *Concurrency) Cap() int { return c.size }
