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

// fairQuantum is how long a guest runs before it gives a slot to a waiting
// function that holds one slot fewer (but not none): the time slice of a CPU
// scheduler, long enough that the hand-over cost is noise.
const fairQuantum = int64(5 * time.Millisecond)

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
