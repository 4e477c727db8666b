package isolate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/edged/edged/limits"
)

// waitUntil yields until cond holds or the test's context ends; it orders the
// test after goroutines that block inside Handle, where there is no channel
// to wait on.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if t.Context().Err() != nil {
			t.Fatalf("gave up waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// spin starts n invocations of the runaway loop guest f and returns a channel
// that receives each one's error when it ends. They run until their deadline
// or until ctx is cancelled.
func spin(ctx context.Context, f *Function, n int) <-chan error {
	done := make(chan error, n)
	for range n {
		go func() {
			var resp Response
			done <- f.Handle(ctx, newRequest("GET", "/", ""), &resp, nil)
		}()
	}
	return done
}

// TestFairSlotsHealthyGuestNotStarved: spinning guests of one function fill
// every execution slot and queue more invocations behind them; a healthy
// function's invocation must still get a slot while all of them run, instead
// of queueing behind them (with a FIFO shared by all functions it waited for
// several spinners' whole deadlines).
func TestFairSlotsHealthyGuestNotStarved(t *testing.T) {
	for _, tc := range []struct {
		name           string
		slots, spinner int
	}{
		{"one slot", 1, 4},
		{"two slots", 2, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRuntime(t, RuntimeOptions{MaxConcurrent: tc.slots})
			spinner := load(t, rt, "testdata/loop.wasm", FunctionOptions{Name: "spinner", MaxInstances: tc.spinner,
				MaxWait: time.Minute, Policy: limits.Policy{Timeout: 10 * time.Second}})
			healthy := load(t, rt, cGuest, FunctionOptions{Name: "healthy", MinInstances: 1})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := spin(ctx, spinner, tc.spinner)
			waitUntil(t, "the spinners to take what they may", func() bool { return spinnersSettled(rt, tc.slots) })

			var resp Response
			if err := healthy.Handle(context.Background(), newRequest("GET", "/", ""), &resp, nil); err != nil {
				t.Fatalf("healthy Handle = %v", err)
			}
			if resp.Status != http.StatusOK {
				t.Errorf("healthy status = %d, want 200", resp.Status)
			}
			// Ordering, not time: no spinner may have finished (they run until
			// their 10s deadline or until cancelled below).
			select {
			case err := <-done:
				t.Fatalf("a spinner finished (%v) before the healthy guest got a slot", err)
			default:
			}
			cancel()
			for range tc.spinner {
				if err := <-done; !errors.Is(err, ErrCanceled) && !errors.Is(err, context.Canceled) {
					t.Errorf("spinner Handle = %v, want cancelled", err)
				}
			}
			if n, _ := rt.Concurrency(); n != 0 {
				t.Errorf("%d slots still in use", n)
			}
		})
	}
}

// TestFairSlotsSpinnersShare: two functions that both spin share the slots
// and both end at their own deadline; one that gave its slot up is still
// stopped there.
func TestFairSlotsSpinnersShare(t *testing.T) {
	for _, tc := range []struct {
		name  string
		slots int
	}{
		{"one slot", 1},
		{"two slots", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRuntime(t, RuntimeOptions{MaxConcurrent: tc.slots})
			opts := FunctionOptions{MaxInstances: 2 * tc.slots, MaxWait: time.Minute,
				Policy: limits.Policy{Timeout: time.Second}}
			opts.Name = "a"
			a := load(t, rt, "testdata/loop.wasm", opts)
			opts.Name = "b"
			b := load(t, rt, "testdata/loop.wasm", opts)
			doneA := spin(context.Background(), a, 2*tc.slots)
			waitUntil(t, "a to take what it may", func() bool {
				return spinnersSettled(rt, tc.slots) && a.slots.Held() == max(tc.slots-1, 1)
			})
			doneB := spin(context.Background(), b, 2*tc.slots)
			// b gets its share while a's first spinners still run.
			waitUntil(t, "b to get a slot", func() bool { return b.slots.Held() > 0 })
			select {
			case err := <-doneA:
				t.Fatalf("a spinner of a finished (%v) before b got a slot", err)
			default:
			}
			for range 2 * tc.slots {
				for name, done := range map[string]<-chan error{"a": doneA, "b": doneB} {
					if err := <-done; !errors.Is(err, ErrDeadline) {
						t.Errorf("%s: Handle = %v, want ErrDeadline", name, err)
					}
				}
			}
			if n, _ := rt.Concurrency(); n != 0 {
				t.Errorf("%d slots still in use", n)
			}
		})
	}
}

// TestSlotWaitBoundedByMaxWait: the wait for an execution slot counts against
// the function's MaxWait and ends in ErrPoolExhausted (503), like the wait for
// an instance, instead of lasting as long as the guests ahead run.
func TestSlotWaitBoundedByMaxWait(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{MaxConcurrent: 1})
	f := load(t, rt, "testdata/loop.wasm", FunctionOptions{MaxInstances: 2, MaxWait: 50 * time.Millisecond,
		Policy: limits.Policy{Timeout: 5 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := spin(ctx, f, 1)
	waitUntil(t, "the spinner to take the slot", func() bool { return rt.conc.InUse() == 1 })

	var resp Response
	err := f.Handle(context.Background(), newRequest("GET", "/", ""), &resp, nil)
	var ie *InvokeError
	if !errors.Is(err, ErrPoolExhausted) || !errors.As(err, &ie) || ie.Phase != "acquire" {
		t.Fatalf("Handle = %v, want ErrPoolExhausted in phase acquire", err)
	}
	if got := StatusOf(err); got != http.StatusServiceUnavailable {
		t.Errorf("StatusOf = %d, want 503", got)
	}
	if st := f.Stats(); st.PoolExhausted != 1 {
		t.Errorf("Stats.PoolExhausted = %d, want 1", st.PoolExhausted)
	}
	select {
	case err := <-done:
		t.Fatalf("the spinner ended (%v) before the waiter gave up", err)
	default:
	}
	cancel()
	<-done
}

// spinnersSettled reports whether spinning guests hold what the fair-share
// rules let them: the one slot of a single-slot runtime, else every long slot
// (one fewer than the execution slots), with more spinners waiting for one.
func spinnersSettled(rt *Runtime, slots int) bool {
	if slots == 1 {
		return rt.conc.InUse() == 1 && rt.conc.Waiting() > 0
	}
	return rt.long.InUse() == slots-1 && rt.long.Waiting() > 0
}

// TestLongRunnersLeaveASlot: guests that run past longRun hold at most all
// execution slots but one, whatever their number, so a quick function finds
// a free slot without waiting for a spinner's fuel check.
func TestLongRunnersLeaveASlot(t *testing.T) {
	for _, slots := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d slots", slots), func(t *testing.T) {
			rt := newRuntime(t, RuntimeOptions{MaxConcurrent: slots})
			spinners := 2 * slots
			spinner := load(t, rt, "testdata/loop.wasm", FunctionOptions{Name: "spinner", MaxInstances: spinners,
				MaxWait: time.Minute, Policy: limits.Policy{Timeout: 10 * time.Second}})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := spin(ctx, spinner, spinners)
			// Once every spinner has run past longRun, those without a long
			// slot wait for one holding no execution slot.
			waitUntil(t, "the spinners to settle on all slots but one", func() bool {
				return rt.long.InUse() == slots-1 && rt.long.Waiting() == spinners-(slots-1) &&
					rt.conc.InUse() == slots-1
			})
			if !rt.conc.TryAcquire() {
				t.Fatal("no execution slot free beside the spinners")
			}
			rt.conc.Release()
			cancel()
			for range spinners {
				if err := <-done; !errors.Is(err, ErrCanceled) && !errors.Is(err, context.Canceled) {
					t.Errorf("spinner Handle = %v, want cancelled", err)
				}
			}
			if n, _ := rt.Concurrency(); n != 0 || rt.long.InUse() != 0 {
				t.Errorf("%d execution and %d long slots still in use", n, rt.long.InUse())
			}
		})
	}
}
