package cost

import (
	"errors"
	"math"
	"sync/atomic"
	"time"

	"github.com/edged/edged/isolate"
)

// Meter counts one route's isolate invocations as a FaaS provider would
// bill them, and reads them back as a RouteUsage. Recording an invocation is
// a handful of atomic adds: no lock, no allocation (except the first
// invocation after the route's function changed, see rebind), so the router
// records every request. The zero value is ready to use; a Meter must not be
// copied after first use. Safe for concurrent use.
type Meter struct {
	inFlight, peak atomic.Int64
	invocations    atomic.Uint64
	mirrored       atomic.Uint64
	wallNanos      atomic.Int64
	billedNanos    atomic.Int64
	gbSeconds      atomic.Uint64 // float64 bits; a float cannot overflow where page-ns would
	bill           atomic.Pointer[billing]
}

// billing is what rounding and memory-time need from a function, cached so
// the hot path does not read the function's whole Usage.
type billing struct {
	fn          *isolate.Function
	granularity int64  // ns, > 0
	memBytes    uint64 // the function's memory cap
}

// Begin records an invocation starting; End or EndMirror records its end.
func (c *Meter) Begin() {
	n := c.inFlight.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// End records the end of the invocation of f that Begin started: d is its
// wall time, err what f's Handle returned. An invocation refused before it
// ran guest code (isolate.ErrPoolExhausted, isolate.ErrClosed) is not
// billed; one that failed while running (a trap, a deadline) is.
func (c *Meter) End(f *isolate.Function, d time.Duration, err error) {
	c.inFlight.Add(-1)
	if err != nil && notRun(err) {
		return
	}
	c.add(f, d)
}

// EndMirror is End for a shadow mirror: it also counts as mirrored.
func (c *Meter) EndMirror(f *isolate.Function, d time.Duration, err error) {
	c.inFlight.Add(-1)
	if err != nil && notRun(err) {
		return
	}
	c.mirrored.Add(1)
	c.add(f, d)
}

// notRun reports whether err means the invocation never ran guest code, so a
// provider would not bill it (a throttle, or a function already closed).
func notRun(err error) bool {
	return errors.Is(err, isolate.ErrPoolExhausted) || errors.Is(err, isolate.ErrClosed)
}

func (c *Meter) add(f *isolate.Function, d time.Duration) {
	b := c.bill.Load()
	if b == nil || b.fn != f {
		b = c.rebind(f)
	}
	bn := billedNanos(int64(d), b.granularity)
	c.invocations.Add(1)
	c.wallNanos.Add(int64(max(d, 0)))
	c.billedNanos.Add(bn)
	addFloat(&c.gbSeconds, float64(bn)/1e9*float64(b.memBytes)/(1<<30))
}

// rebind caches f's billing figures. It runs when the route's function
// changes (a reload); while old and new Worlds overlap it may run more than
// once, each time with the right figures for its f.
func (c *Meter) rebind(f *isolate.Function) *billing {
	u := f.Usage()
	b := &billing{fn: f, granularity: int64(max(u.Granularity, 1)), memBytes: u.MemoryBytes}
	c.bill.Store(b)
	return b
}

// billedNanos rounds d up to a multiple of g (g > 0), as FaaS providers
// round a function's duration up to their billing increment.
func billedNanos(d, g int64) int64 {
	if d <= 0 {
		return 0
	}
	return (d + g - 1) / g * g
}

// addFloat adds v to the float64 whose bits u holds.
func addFloat(u *atomic.Uint64, v float64) {
	for {
		old := u.Load()
		if u.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Usage reads the counters; elapsed is the window they cover (the router
// passes its Server's age, so route figures survive reloads).
func (c *Meter) Usage(elapsed time.Duration) RouteUsage {
	u := RouteUsage{
		Elapsed:      elapsed,
		Invocations:  c.invocations.Load(),
		Mirrored:     c.mirrored.Load(),
		Wall:         time.Duration(c.wallNanos.Load()),
		Billed:       time.Duration(c.billedNanos.Load()),
		GBSeconds:    math.Float64frombits(c.gbSeconds.Load()),
		InFlight:     c.inFlight.Load(),
		PeakInFlight: c.peak.Load(),
	}
	if b := c.bill.Load(); b != nil {
		u.Granularity, u.MemoryBytes = time.Duration(b.granularity), b.memBytes
	}
	if elapsed > 0 {
		u.MeanConcurrency = float64(u.Wall) / float64(elapsed)
	}
	return u
}
