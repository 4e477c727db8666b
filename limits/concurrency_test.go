package limits

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestConcurrencyBasics(t *testing.T) {
	c := NewConcurrency(2)
	if c.Cap() != 2 || c.InUse() != 0 {
		t.Fatalf("Cap(), InUse() = %d, %d, want 2, 0", c.Cap(), c.InUse())
	}
	ctx := context.Background()
	if err := c.Acquire(ctx); err != nil {
		t.Fatalf("Acquire() = %v", err)
	}
	if !c.TryAcquire() {
		t.Fatalf("TryAcquire() = false with one slot free")
	}
	if c.TryAcquire() {
		t.Fatalf("TryAcquire() = true with no slot free")
	}
	if c.InUse() != 2 {
		t.Errorf("InUse() = %d, want 2", c.InUse())
	}
	c.Release()
	c.Release()
	if c.InUse() != 0 {
		t.Errorf("InUse() = %d after releasing all, want 0", c.InUse())
	}
	if got, want := NewConcurrency(0).Cap(), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("NewConcurrency(0).Cap() = %d, want %d", got, want)
	}
	if got, want := NewConcurrency(-1).Cap(), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("NewConcurrency(-1).Cap() = %d, want %d", got, want)
	}
}

func TestConcurrencyAcquireBlocksUntilRelease(t *testing.T) {
	c := NewConcurrency(1)
	if !c.TryAcquire() {
		t.Fatal("TryAcquire() = false on an empty limiter")
	}
	got := make(chan error)
	go func() { got <- c.Acquire(context.Background()) }()
	select {
	case err := <-got:
		t.Fatalf("Acquire() returned %v while the only slot was held", err)
	default:
	}
	c.Release()
	if err := <-got; err != nil {
		t.Fatalf("Acquire() = %v after Release, want nil", err)
	}
	if c.InUse() != 1 {
		t.Errorf("InUse() = %d, want 1", c.InUse())
	}
	c.Release()
}

func TestConcurrencyAcquireCancel(t *testing.T) {
	c := NewConcurrency(1)
	c.TryAcquire()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error)
	go func() { got <- c.Acquire(ctx) }()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire() = %v after cancel, want context.Canceled", err)
	}
	if c.InUse() != 1 {
		t.Errorf("InUse() = %d, want 1 (the canceled waiter must hold nothing)", c.InUse())
	}
	c.Release()
	// An already-canceled context fails even when a slot is free.
	if err := c.Acquire(ctx); !errors.Is(err, context.Canceled) || c.InUse() != 0 {
		t.Errorf("Acquire(canceled) = %v, InUse %d, want context.Canceled, 0", err, c.InUse())
	}
}

func TestConcurrencyReleaseWithoutAcquirePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("Release() on an empty limiter did not panic")
		}
	}()
	NewConcurrency(1).Release()
}

// TestConcurrencyHammer checks that the bound holds under contention.
func TestConcurrencyHammer(t *testing.T) {
	const limit, workers, rounds = 3, 16, 200
	c := NewConcurrency(limit)
	var active, peak atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				if err := c.Acquire(context.Background()); err != nil {
					t.Error(err)
					return
				}
				n := active.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				runtime.Gosched()
				active.Add(-1)
				c.Release()
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > limit || p < 1 {
		t.Errorf("peak concurrency = %d, want 1..%d", p, limit)
	}
	if c.InUse() != 0 {
		t.Errorf("InUse() = %d after all released, want 0", c.InUse())
	}
}

func TestConcurrencyAcquireDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	c := NewConcurrency(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	allocs := testing.AllocsPerRun(1000, func() {
		if err := c.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		c.Release()
	})
	if allocs != 0 {
		t.Errorf("Acquire+Release allocs = %v, want 0", allocs)
	}
}

func BenchmarkConcurrencyAcquireRelease(b *testing.B) {
	c := NewConcurrency(0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Acquire(ctx); err != nil {
			b.Fatal(err)
		}
		c.Release()
	}
}

func BenchmarkConcurrencyAcquireReleaseParallel(b *testing.B) {
	c := NewConcurrency(0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := c.Acquire(ctx); err != nil {
				b.Fatal(err)
			}
			c.Release()
		}
	})
}

// waitFor spins until cond holds; used only to order goroutines that are
// about to block in Acquire, where there is no channel to wait on.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		runtime.Gosched()
	}
}

func TestConcurrencyFIFO(t *testing.T) {
	c := NewConcurrency(1)
	c.TryAcquire()
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	a, b := make(chan error), make(chan error)
	go func() { a <- c.Acquire(context.Background()) }()
	waitFor(t, func() bool { return c.Waiting() == 1 })
	go func() { b <- c.Acquire(ctxB) }()
	waitFor(t, func() bool { return c.Waiting() == 2 })
	if c.TryAcquire() {
		t.Fatal("TryAcquire() = true with waiters queued")
	}
	c.Release()
	if err := <-a; err != nil {
		t.Fatalf("first waiter: Acquire() = %v, want nil", err)
	}
	if c.Waiting() != 1 || c.InUse() != 1 {
		t.Fatalf("Waiting(), InUse() = %d, %d, want 1, 1 (the second waiter must still wait)", c.Waiting(), c.InUse())
	}
	cancelB()
	if err := <-b; !errors.Is(err, context.Canceled) {
		t.Fatalf("second waiter: Acquire() = %v, want context.Canceled", err)
	}
	if c.Waiting() != 0 || c.InUse() != 1 {
		t.Errorf("Waiting(), InUse() = %d, %d, want 0, 1", c.Waiting(), c.InUse())
	}
	c.Release()
}

// TestConcurrencyHammerWithCancels races grants against cancellations and
// checks that no slot leaks or is handed out twice. It runs in a synctest
// bubble: a leaked slot leaves every worker blocked, so the bubble's fake
// clock jumps to the overall deadline at once instead of after 20 seconds.
func TestConcurrencyHammerWithCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit, workers, rounds = 2, 16, 300
		c := NewConcurrency(limit)
		// A leaked slot would make the workers wait forever; the overall
		// deadline turns that into a failure.
		leak, stop := context.WithTimeout(context.Background(), 20*time.Second)
		defer stop()
		var active atomic.Int32
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range rounds {
					ctx, cancel := context.WithCancel(leak)
					if (w+i)%3 == 0 {
						go cancel()
					}
					if err := c.Acquire(ctx); err != nil {
						cancel()
						if leak.Err() != nil {
							t.Errorf("Acquire() = %v: slots leaked (InUse %d)", err, c.InUse())
							return
						}
						continue
					}
					if n := active.Add(1); n > limit {
						t.Errorf("%d holders, limit %d", n, limit)
					}
					runtime.Gosched()
					active.Add(-1)
					c.Release()
					cancel()
				}
			})
		}
		wg.Wait()
		if c.InUse() != 0 || c.Waiting() != 0 {
			t.Errorf("InUse(), Waiting() = %d, %d after the hammer, want 0, 0", c.InUse(), c.Waiting())
		}
	})
}
