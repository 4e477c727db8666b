package limits

import (
	"context"
	"runtime"
	"sync"
)

// Concurrency bounds how many executions of guest code run at once, so that
// wall-clock deadlines stay honest: with more runnable guests than cores a
// guest could spend its whole budget waiting for a CPU. It is a counting
// semaphore with a FIFO wait queue: a released slot goes to the longest
// waiter, and TryAcquire does not jump the queue. All methods are safe for
// concurrent use. Create it with NewConcurrency.
type Concurrency struct {
	mu      sync.Mutex
	size    int
	cur     int
	waiters []chan struct{} // FIFO; a waiter's channel is closed when it is granted a slot
}

// NewConcurrency returns a limiter of n slots; n <= 0 means
// runtime.GOMAXPROCS(0), about the number of cores.
func NewConcurrency(n int) *Concurrency {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &Concurrency{size: n}
}

// Acquire takes a slot, waiting in line until one is free or ctx is done;
// then it returns ctx.Err() and holds nothing. A ctx that is already done
// fails even if a slot is free. On success the caller must call Release
// exactly once. The uncontended path does not allocate; waiting allocates
// one channel.
func (c *Concurrency) Acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.cur < c.size && len(c.waiters) == 0 {
		c.cur++
		c.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	c.waiters = append(c.waiters, ready)
	c.mu.Unlock()

	select {
	case <-ready:
		return nil
	case <-ctx.Done():
	}
	c.mu.Lock()
	select {
	case <-ready:
		// Granted while we were giving up: hand the slot on.
		c.cur--
	default:
		for i, w := range c.waiters {
			if w == ready {
				c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
				break
			}
		}
	}
	// Leaving the head of the queue may let the next waiter in.
	c.grantLocked()
	c.mu.Unlock()
	return ctx.Err()
}

// TryAcquire takes a slot if one is free and nobody is waiting, and reports
// whether it did.
func (c *Concurrency) TryAcquire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur < c.size && len(c.waiters) == 0 {
		c.cur++
		return true
	}
	return false
}

// Release frees a slot taken by Acquire or TryAcquire, handing it to the
// longest waiter if there is one. Releasing more than was acquired is a
// programming error and panics.
func (c *Concurrency) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur <= 0 {
		panic("limits: Concurrency.Release without a matching Acquire")
	}
	c.cur--
	c.grantLocked()
}

// grantLocked hands free slots to waiters in arrival order.
func (c *Concurrency) grantLocked() {
	for c.cur < c.size && len(c.waiters) > 0 {
		w := c.waiters[0]
		c.waiters[0] = nil
		c.waiters = c.waiters[1:]
		c.cur++
		close(w)
	}
	if len(c.waiters) == 0 {
		c.waiters = c.waiters[:0:0] // drop the drained backing array
	}
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
	return len(c.waiters)
}

// Cap returns the number of slots.
func (c *Concurrency) Cap() int { return c.size }
