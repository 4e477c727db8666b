//go:build !noevents

package events

import (
	"sync"
	"sync/atomic"
	"time"
)

// workerIdle is how long a handler goroutine waits for the next event before
// it exits.
const workerIdle = time.Second

// workers runs handlers on goroutines that outlive one event. A handler that
// invoked a guest has grown its stack (an isolate call runs deep); a fresh
// goroutine per event would grow, copy and free it again every time, which
// was a tenth of a trigger's CPU on a busy queue. A goroutine that finishes
// waits workerIdle for the next handler, so a drained queue leaves none
// behind.
//
// Unbounded (limit 0), a handler that finds no goroutine waiting gets a new
// one: for handlers that wait a long time without an invocation slot (a key
// waiting out its backoff), which must not hold up the others. Bounded, at
// most limit goroutines run the queued handlers in turn: for handlers that
// each take an invocation slot at once. A dispatcher that hands over a batch
// of events finds no goroutine waiting (they are runnable, not yet run) and
// started one per event, each to wait for a slot: the scheduler's latency
// for the dispatcher, and a stack to grow per event.
type workers struct {
	// next hands a handler over: unbuffered when unbounded (a send succeeds
	// only to a waiting goroutine), the queue when bounded.
	next  chan func()
	limit int
	stop  <-chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	running int // bounded: goroutines started and not exited
	waiting int // bounded: of which waiting for a handler

	// spawned counts the goroutines started, for the tests.
	spawned atomic.Int64
}

// newWorkers returns unbounded workers.
func newWorkers(stop <-chan struct{}) *workers {
	return &workers{next: make(chan func()), stop: stop}
}

// newBoundedWorkers returns workers that run at most limit handlers at once,
// with room to queue capacity more; the caller bounds what it queues.
func newBoundedWorkers(stop <-chan struct{}, limit, capacity int) *workers {
	return &workers{next: make(chan func(), capacity), limit: limit, stop: stop}
}

// run runs f on a waiting goroutine, or a new one when none waits; bounded,
// it queues f and starts a goroutine if none waits and fewer than limit run.
func (w *workers) run(f func()) {
	if w.limit > 0 {
		w.next <- f
		w.mu.Lock()
		if w.waiting == 0 && w.running < w.limit {
			w.running++
			w.spawn(nil)
		}
		w.mu.Unlock()
		return
	}
	select {
	case w.next <- f:
		return
	default:
	}
	w.spawn(f)
}

func (w *workers) spawn(f func()) {
	w.wg.Add(1)
	w.spawned.Add(1)
	go w.loop(f)
}

// loop runs f, if any, then the handlers handed to it, until it has waited
// workerIdle for one or stop is closed.
func (w *workers) loop(f func()) {
	defer w.wg.Done()
	// Held in use while the worker waits (see stackKeep); zeroed once per
	// goroutine, not per event.
	var keep [stackKeep]byte
	touch(&keep)
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		if f != nil {
			f()
		}
		idle.Reset(workerIdle)
		w.wait1(+1)
		select {
		case f = <-w.next:
			w.wait1(-1)
			continue
		case <-idle.C:
		case <-w.stop:
		}
		w.wait1(-1)
		if w.exit() {
			return
		}
		f = nil
	}
}

// wait1 counts a bounded goroutine in or out of those waiting, which run
// finds before it starts another.
func (w *workers) wait1(d int) {
	if w.limit == 0 {
		return
	}
	w.mu.Lock()
	w.waiting += d
	w.mu.Unlock()
}

// exit reports whether a goroutine may exit. Bounded, not while handlers
// are queued: run queues before it counts the goroutines, so a handler
// queued as the last goroutine leaves is never stranded.
func (w *workers) exit() bool {
	if w.limit == 0 {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.next) > 0 {
		return false
	}
	w.running--
	return true
}

// stackKeep is how much stack a worker holds in use while it waits. The
// garbage collector halves the stack of a goroutine that uses under a
// quarter of it, and a worker waiting between events used next to nothing:
// every collection (many a second on a busy queue) shrank the stacks the last
// guest calls had grown, and the next event grew and copied them back, a
// tenth of a trigger's CPU with a C guest (docs/events.md, "Performance").
// A quarter of the stack a guest call grows is enough; the cost is this much
// memory per worker goroutine: at most max_concurrency of them run a
// trigger's handlers without a key, and with ordering by key there is one
// per key being worked on (waiting out a backoff included).
const stackKeep = 16 << 10

// touch uses b so the compiler keeps it on the stack; not inlined, so it
// cannot be optimised away, and b does not escape.
//
//go:noinline
func touch(b *[stackKeep]byte) { b[0] = 1 }

// wait waits for the goroutines to exit, once stop is closed.
func (w *workers) wait() { w.wg.Wait() }
