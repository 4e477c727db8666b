package isolate

import (
	"context"
	"errors"
	"time"

	"github.com/edged/edged/limits"
)

// How execution slots are shared between functions (RATIONALE.md has the
// long form).
//
// Guest code runs only while its instance holds one of the Runtime's
// execution slots (about one per core). Each function is one class of the
// slot limiter (limits.ConcurrencyClass): a freed slot goes to the waiting
// function that holds the fewest, so no function holds more than its share
// while another waits. A function that took every slot before the others
// arrived (a spinning guest under load) gives slots back at its guests' fuel
// checks (Runtime.yield): at once to a waiting function that holds none or
// two or more fewer, and after fairQuantum of running to one that holds just
// one fewer. The wait for a slot is bounded by the
// function's MaxWait (ErrPoolExhausted, 503) and a guest waiting to get its
// slot back by its own deadline.
//
// One slot is kept for short invocations: a guest that has run longRun
// without a pause takes one of the Runtime's long slots, one fewer than the
// execution slots (Runtime.long), and when they are all taken it gives its
// execution slot back and waits for a long one first. CPU-bound guests thus
// use at most all cores but one, and a request for a quick function (and the
// network poller serving it) never waits for the OS scheduler behind them.

// fairQuantum is how long a guest runs before it gives a slot to a waiting
// function that holds one slot fewer (but not none): the time slice of a CPU
// scheduler, long enough that the hand-over cost is noise.
const fairQuantum = int64(5 * time.Millisecond)

// longRun is how long a guest runs on its slot, without waiting on the
// network or the store, before it counts as long-running and needs a long
// slot: well above a quick function's whole run (tens of µs to a few ms), so
// only CPU-bound work is held to all cores but one.
const longRun = int64(5 * time.Millisecond)

// takeSlot waits for an execution slot for inst's function, at most maxWait
// (0: until ctx is done). A wait that times out is the pool's ErrPoolExhausted.
func (inst *instance) takeSlot(ctx context.Context, maxWait time.Duration) error {
	f := inst.fn
	if err := f.slots.Acquire(ctx, maxWait); err != nil {
		if errors.Is(err, limits.ErrWaitTimeout) {
			// Counted here for a request's call; a wait while instantiating
			// is counted by handle with the pool's.
			if inst.req != nil {
				f.c.exhausted.Add(1)
			}
			return &InvokeError{Function: f.name, Phase: "acquire", Kind: ErrPoolExhausted, Cause: err}
		}
		return err
	}
	inst.holding = true
	inst.turn = f.rt.now()
	return nil
}

// dropSlot releases the slot taken by takeSlot, unless the guest lost it
// while giving it up in shareSlot.
func (inst *instance) dropSlot() {
	if inst.holding {
		inst.holding = false
		inst.fn.slots.Release()
	}
}

// shareSlot is called at the guest's fuel checks with the time now; it gives
// the slot to a function the fair-share rule prefers, if there is one, and
// waits to get one back before the guest's deadline. It reports whether it
// gave the slot up (and so waited). A guest that cannot get a slot back is
// interrupted like one past its deadline (or cancelled with its caller).
func (inst *instance) shareSlot(now int64) bool {
	f := inst.fn
	ctx := inst.callCtx
	if ctx == nil {
		ctx = context.Background()
	}
	yielded, err := f.slots.Yield(ctx, time.Duration(max(inst.deadline-now, 1)), now-inst.turn >= fairQuantum)
	if !yielded {
		return false
	}
	if err != nil {
		inst.holding = false
		inst.interrupt = ErrCanceled
		if errors.Is(err, limits.ErrWaitTimeout) {
			inst.interrupt = ErrDeadline
		}
		panic(errInterrupted)
	}
	// Fuel adapts to the guest's loop speed from here on.
	now = f.rt.now()
	inst.turn = now
	inst.lastTick = now
	return true
}

// holdLong is called at the guest's fuel checks with the time now, after
// shareSlot: a guest that has run longRun takes a long slot, or, when none is
// free, gives its execution slot back, waits for a long slot and then for an
// execution slot, both before its deadline. It reports whether it waited. A
// guest that cannot get both back is interrupted like one past its deadline
// (or cancelled with its caller).
func (inst *instance) holdLong(now int64) bool {
	f := inst.fn
	if f.long == nil || now-inst.runStart < longRun {
		return false
	}
	ctx := inst.callCtx
	if ctx == nil {
		ctx = context.Background()
	}
	var err error
	if inst.longHeld {
		// Long slots are shared between functions as execution slots are
		// (shareSlot); a guest that gives its long slot up waits for it
		// back holding no execution slot either.
		var yielded bool
		yielded, err = f.long.YieldWith(ctx, time.Duration(max(inst.deadline-now, 1)),
			now-inst.longTurn >= fairQuantum, inst.dropSlot)
		if !yielded {
			return false
		}
		if err != nil {
			inst.longHeld = false
		}
	} else {
		if f.long.TryAcquire() {
			inst.longHeld = true
			inst.longTurn = now
			return false
		}
		inst.dropSlot()
		err = f.long.Acquire(ctx, time.Duration(max(inst.deadline-now, 1)))
		inst.longHeld = err == nil
	}
	if err == nil {
		inst.longTurn = f.rt.now()
		err = f.slots.Acquire(ctx, time.Duration(max(inst.deadline-f.rt.now(), 1)))
	}
	if err != nil {
		inst.interrupt = ErrCanceled
		if errors.Is(err, limits.ErrWaitTimeout) {
			inst.interrupt = ErrDeadline
		}
		panic(errInterrupted)
	}
	inst.holding = true
	now = f.rt.now()
	inst.turn = now
	inst.lastTick = now
	return true
}

// dropLong releases the long slot taken by holdLong, if any.
func (inst *instance) dropLong() {
	if inst.longHeld {
		inst.longHeld = false
		inst.fn.long.Release()
	}
}

// offCore gives up the execution slot (and any long slot) while the guest
// waits on the network or the store, which uses no core; onCore takes an
// execution slot again, and the guest's run counts from there.
func (inst *instance) offCore() {
	inst.dropSlot()
	inst.dropLong()
}

// onCore takes an execution slot back after offCore.
func (inst *instance) onCore() {
	_ = inst.fn.slots.Acquire(context.Background(), 0)
	inst.holding = true
	now := inst.fn.rt.now()
	inst.turn = now
	inst.runStart = now
}
