package isolate

import (
	"sync/atomic"
	"time"
)

// Usage is a function's cumulative resource use since Load, the input of a
// cost report. Read it with Function.Usage. Counters only grow; the fields
// are read one at a time without a lock, so a snapshot taken under traffic
// may be off by the invocations in flight at that moment.
type Usage struct {
	// Elapsed is the time since the function was loaded: the window the
	// counters cover.
	Elapsed time.Duration
	// Invocations counts Handle calls, failed ones included.
	Invocations uint64
	// Exec is the summed time guest code ran (both phases).
	Exec time.Duration
	// Billed is the summed exec time with each invocation rounded up to
	// Granularity, the way FaaS providers bill. Billed >= Exec.
	Billed time.Duration
	// Granularity is the billing unit Billed was rounded to.
	Granularity time.Duration
	// MemoryBytes is the function's memory cap (Policy.MaxMemory rounded to
	// pages). Memory-time bills the cap, not the memory actually touched,
	// as providers bill the configured memory size.
	MemoryBytes uint64
	// GBSeconds is Billed × MemoryBytes, in GiB-seconds (1 GB = 2^30 bytes,
	// as providers count it).
	GBSeconds float64
	// InFlight is the number of invocations running now; PeakInFlight the
	// most at once since Load.
	InFlight, PeakInFlight int64
	// InFlightTime is the integral of in-flight invocations over time (the
	// summed wall time of all invocations, waits included), so
	// MeanConcurrency = InFlightTime / Elapsed.
	InFlightTime time.Duration
	// MeanConcurrency is InFlightTime / Elapsed (0 when Elapsed is 0).
	MeanConcurrency float64
	// Busy is the summed time instances spent serving invocations, from
	// instantiation (cold) or acquisition (warm) to release.
	Busy time.Duration
	// InstanceTime is the summed lifetime of all instances, those alive now
	// up to now: warm pool instances count even while idle.
	InstanceTime time.Duration
	// Utilization is Busy / InstanceTime, clamped to 0..1 (0 when no
	// instance ever lived).
	Utilization float64
}

// usage holds the atomics behind Usage. Every update is an atomic add (or a
// CAS loop for the peak): recording an invocation does not allocate or lock.
type usage struct {
	start       int64 // runtime.now() at Load
	granularity int64 // billing unit in ns, > 0

	invocations atomic.Uint64
	execNanos   atomic.Int64
	billedNanos atomic.Int64
	inFlight    atomic.Int64
	peak        atomic.Int64
	flightNanos atomic.Int64
	busyNanos   atomic.Int64

	// Instance lifetimes: the closed ones are summed into closedNanos; for
	// live ones, live × now − bornSum is their summed age so far.
	live        atomic.Int64
	bornSum     atomic.Int64
	closedNanos atomic.Int64
}

// billed rounds d up to a multiple of g (g > 0).
func billed(d, g int64) int64 {
	if d <= 0 {
		return 0
	}
	return (d + g - 1) / g * g
}

// enter records an invocation starting at now.
func (u *usage) enter() {
	n := u.inFlight.Add(1)
	for {
		p := u.peak.Load()
		if n <= p || u.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// leave records the end of an invocation that began at start.
func (u *usage) leave(start, now int64, inv *Invocation) {
	u.inFlight.Add(-1)
	u.invocations.Add(1)
	u.flightNanos.Add(now - start)
	exec := int64(inv.Exec)
	u.execNanos.Add(exec)
	u.billedNanos.Add(billed(exec, u.granularity))
}

// born and died track instance lifetimes.
func (u *usage) born(at int64) {
	u.bornSum.Add(at)
	u.live.Add(1)
}

func (u *usage) died(born, now int64) {
	u.closedNanos.Add(now - born)
	u.bornSum.Add(-born)
	u.live.Add(-1)
}

// Usage returns the function's cumulative usage up to now. Safe for
// concurrent use with Handle.
func (f *Function) Usage() Usage {
	u := &f.u
	now := f.rt.now()
	s := Usage{
		Elapsed:      time.Duration(now - u.start),
		Invocations:  u.invocations.Load(),
		Exec:         time.Duration(u.execNanos.Load()),
		Billed:       time.Duration(u.billedNanos.Load()),
		Granularity:  time.Duration(u.granularity),
		MemoryBytes:  f.memCap,
		InFlight:     u.inFlight.Load(),
		PeakInFlight: u.peak.Load(),
		InFlightTime: time.Duration(u.flightNanos.Load()),
		Busy:         time.Duration(u.busyNanos.Load()),
	}
	inst := u.closedNanos.Load() + u.live.Load()*now - u.bornSum.Load()
	s.InstanceTime = time.Duration(max(inst, 0))
	s.GBSeconds = s.Billed.Seconds() * float64(s.MemoryBytes) / (1 << 30)
	if s.Elapsed > 0 {
		s.MeanConcurrency = float64(s.InFlightTime) / float64(s.Elapsed)
	}
	if s.InstanceTime > 0 {
		s.Utilization = min(max(float64(s.Busy)/float64(s.InstanceTime), 0), 1)
	}
	return s
}
