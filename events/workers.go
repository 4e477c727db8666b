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
// behind; there are never more than the trigger's concurrent handlers.
type workers struct {
	next chan func() // unbuffered: a send succeeds only to a waiting goroutine
	stop <-chan struct{}
	wg   sync.WaitGroup
	// spawned counts the goroutines started, for the tests.
	spawned atomic.Int64
}

func newWorkers(stop <-chan struct{}) *workers {
	return &workers{next: make(chan func()), stop: stop}
}

// run runs f on a waiting goroutine, or a new one when none waits.
func (w *workers) run(f func()) {
	select {
	case w.next <- f:
		return
	default:
	}
	w.wg.Add(1)
	w.spawned.Add(1)
	go w.loop(f)
}

func (w *workers) loop(f func()) {
	defer w.wg.Done()
	// Held in use while the worker waits (see stackKeep); zeroed once per
	// goroutine, not per event.
	var keep [stackKeep]byte
	touch(&keep)
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		f()
		idle.Reset(workerIdle)
		select {
		case f = <-w.next:
		case <-idle.C:
			return
		case <-w.stop:
			return
		}
	}
}

// stackKeep is how much stack a worker holds in use while it waits. The
// garbage collector halves the stack of a goroutine that uses under a
// quarter of it, and a worker waiting between events used next to nothing:
// every collection (many a second on a busy queue) shrank the stacks the last
// guest calls had grown, and the next event grew and copied them back, a
// tenth of a trigger's CPU with a C guest (docs/events.md, "Performance").
// A quarter of the stack a guest call grows is enough; the cost is this much
// memory per worker, and a trigger has at most its max_concurrency workers
// running handlers.
const stackKeep = 16 << 10

// touch uses b so the compiler keeps it on the stack; not inlined, so it
// cannot be optimised away, and b does not escape.
//
//go:noinline
func touch(b *[stackKeep]byte) { b[0] = 1 }

// wait waits for the goroutines to exit, once stop is closed.
func (w *workers) wait() { w.wg.Wait() }
