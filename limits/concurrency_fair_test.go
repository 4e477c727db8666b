package limits

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// acquireAsync starts k.Acquire in a goroutine and waits (in the synctest
// bubble) until it has returned or blocked, so waiters queue in call order.
func acquireAsync(k *ConcurrencyClass, ctx context.Context, maxWait time.Duration) <-chan error {
	got := make(chan error, 1)
	go func() { got <- k.Acquire(ctx, maxWait) }()
	synctest.Wait()
	return got
}

// returned reports whether ch has a value, and the value.
func returned(ch <-chan error) (error, bool) {
	select {
	case err := <-ch:
		return err, true
	default:
		return nil, false
	}
}

// TestConcurrencyFairShare: a class that holds every slot and queues many
// more waiters cannot keep a later class out; the first release goes to the
// class that holds fewer slots.
func TestConcurrencyFairShare(t *testing.T) {
	for _, tc := range []struct {
		name          string
		size, aQueued int
	}{
		{"one slot", 1, 5},
		{"four slots", 4, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := NewConcurrency(tc.size)
				a, b := c.NewClass(), c.NewClass()
				for range tc.size {
					if err := a.Acquire(t.Context(), 0); err != nil {
						t.Fatal(err)
					}
				}
				var aWaits []<-chan error
				for range tc.aQueued {
					aWaits = append(aWaits, acquireAsync(a, t.Context(), 0))
				}
				bWait := acquireAsync(b, t.Context(), 0)
				if c.Waiting() != tc.aQueued+1 {
					t.Fatalf("Waiting() = %d, want %d", c.Waiting(), tc.aQueued+1)
				}
				a.Release()
				synctest.Wait()
				if err, ok := returned(bWait); !ok || err != nil {
					t.Fatalf("B's waiter after one release: returned %v, %v; want granted", ok, err)
				}
				for i, w := range aWaits {
					if _, ok := returned(w); ok {
						t.Fatalf("A's waiter %d was granted before B's", i)
					}
				}
				if a.Held() != tc.size-1 || b.Held() != 1 {
					t.Errorf("Held() = A %d, B %d, want %d, 1", a.Held(), b.Held(), tc.size-1)
				}
				// A's own waiters are still served in arrival order.
				b.Release()
				synctest.Wait()
				if err, ok := returned(aWaits[0]); !ok || err != nil {
					t.Fatalf("A's first waiter after B released: returned %v, %v; want granted", ok, err)
				}
				for i, w := range aWaits[1:] {
					if _, ok := returned(w); ok {
						t.Fatalf("A's waiter %d was granted before its first", i+1)
					}
				}
			})
		})
	}
}

// TestConcurrencyLeastHeldFirst checks the grant order with three classes:
// each free slot goes to the waiting class holding fewest, ties to the
// longest waiter.
func TestConcurrencyLeastHeldFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewConcurrency(3)
		a, b, d := c.NewClass(), c.NewClass(), c.NewClass()
		for range 3 {
			if !a.TryAcquire() {
				t.Fatal("TryAcquire() = false on a free slot")
			}
		}
		// Queued in the order A, B, B, D.
		aw := acquireAsync(a, t.Context(), 0)
		bw1 := acquireAsync(b, t.Context(), 0)
		bw2 := acquireAsync(b, t.Context(), 0)
		dw := acquireAsync(d, t.Context(), 0)
		for i, want := range []<-chan error{bw1, dw, aw} {
			a.Release()
			synctest.Wait()
			if err, ok := returned(want); !ok || err != nil {
				t.Fatalf("release %d: the expected waiter was not granted (%v, %v); held A %d B %d D %d",
					i, ok, err, a.Held(), b.Held(), d.Held())
			}
		}
		if _, ok := returned(bw2); ok {
			t.Fatal("B's second waiter was granted with no slot free")
		}
		if got := [3]int{a.Held(), b.Held(), d.Held()}; got != [3]int{1, 1, 1} {
			t.Errorf("Held() = %v, want [1 1 1]", got)
		}
	})
}

// TestConcurrencyWaitBound: a waiter with maxWait gives up when it passes,
// holding nothing, and leaves the queue as it was for the others.
func TestConcurrencyWaitBound(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxWait time.Duration
		cancel  bool
		want    error
	}{
		{"max wait passes", 50 * time.Millisecond, false, ErrWaitTimeout},
		{"context cancelled first", time.Hour, true, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := NewConcurrency(1)
				a, b := c.NewClass(), c.NewClass()
				if err := a.Acquire(t.Context(), 0); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				start := time.Now()
				bw := acquireAsync(b, ctx, tc.maxWait)
				later := acquireAsync(a, t.Context(), 0)
				if tc.cancel {
					cancel()
				} else {
					time.Sleep(tc.maxWait) // fake time in the bubble
				}
				synctest.Wait()
				err, ok := returned(bw)
				if !ok || !errors.Is(err, tc.want) {
					t.Fatalf("Acquire = %v (returned %v), want %v", err, ok, tc.want)
				}
				if !tc.cancel && time.Since(start) != tc.maxWait {
					t.Errorf("gave up after %v, want %v", time.Since(start), tc.maxWait)
				}
				if b.Held() != 0 || c.Waiting() != 1 {
					t.Errorf("B holds %d, %d waiting; want 0, 1", b.Held(), c.Waiting())
				}
				a.Release()
				synctest.Wait()
				if err, ok := returned(later); !ok || err != nil {
					t.Errorf("later waiter: %v, %v; want granted", ok, err)
				}
			})
		})
	}
}

// TestConcurrencyYield: a holder gives its slot at once to a waiting class
// that holds none or two fewer, to one holding one fewer only when rotating,
// never to its own class, and gets a slot back when one frees.
func TestConcurrencyYield(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size      int
		bHeld     int // slots the waiting class B holds already
		rotate    bool
		sameClass bool
		want      bool
	}{
		{"waiter holds none", 1, 0, false, false, true},
		{"two above the waiter", 4, 1, false, false, true},
		{"one above, not rotating", 3, 1, false, false, false},
		{"one above, rotating", 3, 1, true, false, true},
		{"waiter of the same class", 2, 0, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := NewConcurrency(tc.size)
				a, b := c.NewClass(), c.NewClass()
				if yielded, err := a.Yield(t.Context(), 0, true); yielded || err != nil {
					t.Fatalf("Yield with nobody waiting = %v, %v", yielded, err)
				}
				for range tc.bHeld {
					if !b.TryAcquire() {
						t.Fatal("TryAcquire() = false on a free slot")
					}
				}
				for range tc.size - tc.bHeld {
					if !a.TryAcquire() {
						t.Fatal("TryAcquire() = false on a free slot")
					}
				}
				waiter := b
				if tc.sameClass {
					waiter = a
				}
				bw := acquireAsync(waiter, t.Context(), 0)
				yw := make(chan error, 1)
				var handedOver atomic.Int32 // YieldWith's onYield calls
				go func() {
					yielded, err := a.YieldWith(t.Context(), 0, tc.rotate, func() { handedOver.Add(1) })
					if !yielded {
						err = errors.New("not yielded")
					}
					yw <- err
				}()
				synctest.Wait()
				_, granted := returned(bw)
				if granted != tc.want {
					t.Fatalf("waiter granted = %v, want %v", granted, tc.want)
				}
				// onYield runs once the slot is handed over, before the wait.
				if n, want := handedOver.Load(), map[bool]int32{false: 0, true: 1}[tc.want]; n != want {
					t.Fatalf("onYield called %d times, want %d", n, want)
				}
				if !tc.want {
					if err, ok := returned(yw); !ok || err == nil {
						t.Fatalf("Yield = %v (returned %v), want not yielded", err, ok)
					}
					return
				}
				if _, ok := returned(yw); ok {
					t.Fatal("Yield returned before a slot was free")
				}
				waiter.Release()
				synctest.Wait()
				if err, ok := returned(yw); !ok || err != nil {
					t.Fatalf("Yield = %v (returned %v) after a release, want nil", err, ok)
				}
				if a.Held() != tc.size-tc.bHeld || c.InUse() != tc.size {
					t.Errorf("A holds %d, in use %d, want %d, %d", a.Held(), c.InUse(), tc.size-tc.bHeld, tc.size)
				}
			})
		})
	}
}

// TestConcurrencyYieldBound: a yielder that cannot get a slot back within
// maxWait gives up holding nothing.
func TestConcurrencyYieldBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewConcurrency(1)
		a, b := c.NewClass(), c.NewClass()
		a.TryAcquire()
		bw := acquireAsync(b, t.Context(), 0)
		yielded, err := a.Yield(t.Context(), 10*time.Millisecond, true)
		if !yielded || !errors.Is(err, ErrWaitTimeout) {
			t.Fatalf("Yield = %v, %v, want true, ErrWaitTimeout", yielded, err)
		}
		if err, ok := returned(bw); !ok || err != nil {
			t.Fatalf("B's waiter: %v, %v, want granted", ok, err)
		}
		if a.Held() != 0 || b.Held() != 1 || c.Waiting() != 0 {
			t.Errorf("held A %d B %d, waiting %d; want 0, 1, 0", a.Held(), b.Held(), c.Waiting())
		}
	})
}
