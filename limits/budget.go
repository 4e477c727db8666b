package limits

import (
	"fmt"
	"sync/atomic"
)

// Budget counts the subrequests of one invocation against a limit. Take may
// be called from several goroutines at once; Reset must not race with Take
// (call it between invocations). The zero value is a budget of 0: every Take
// fails. Use NewBudget.
type Budget struct {
	limit atomic.Int64
	used  atomic.Int64
}

// NewBudget returns a budget of n subrequests; n < 0 is treated as 0.
func NewBudget(n int) *Budget {
	b := new(Budget)
	b.Reset(n)
	return b
}

// Take uses one unit of the budget, or returns an error wrapping
// ErrSubrequestBudget when none is left (and then uses nothing).
func (b *Budget) Take() error {
	for {
		used := b.used.Load()
		limit := b.limit.Load()
		if used >= limit {
			return fmt.Errorf("%d of %d subrequests used: %w", used, limit, ErrSubrequestBudget)
		}
		if b.used.CompareAndSwap(used, used+1) {
			return nil
		}
	}
}

// Reset sets the limit to n (n < 0 is treated as 0) and the count to zero,
// so a pooled Budget can serve the next invocation.
func (b *Budget) Reset(n int) {
	if n < 0 {
		n = 0
	}
	b.limit.Store(int64(n))
	b.used.Store(0)
}

// Used returns how many units have been taken since the last Reset.
func (b *Budget) Used() int { return int(b.used.Load()) }

// Remaining returns how many units are left.
func (b *Budget) Remaining() int { return int(b.limit.Load() - b.used.Load()) }
