package cost

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
)

// guestHelloC is a real guest, relative to the package directory: the meter
// reads a loaded function's billing unit and memory cap.
const guestHelloC = "../examples/guests/hello-c/hello-c.wasm"

// newRuntime returns an isolate Runtime closed with the test.
func newRuntime(t *testing.T) *isolate.Runtime {
	t.Helper()
	rt, err := isolate.NewRuntime(context.Background(), isolate.RuntimeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return rt
}

// loadFunction loads guestHelloC on rt with o, closed with the test.
func loadFunction(t *testing.T, rt *isolate.Runtime, o isolate.FunctionOptions) *isolate.Function {
	t.Helper()
	f, err := rt.Load(context.Background(), isolate.Source{Path: guestHelloC}, o)
	if err != nil {
		t.Fatalf("load %s: %v", guestHelloC, err)
	}
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	return f
}

func TestBilledNanos(t *testing.T) {
	ms := int64(time.Millisecond)
	tests := []struct {
		name string
		d, g int64
		want int64
	}{
		{"zero is free", 0, ms, 0},
		{"negative is free", -5, ms, 0},
		{"a nanosecond bills a whole unit", 1, ms, ms},
		{"just under a unit", ms - 1, ms, ms},
		{"exactly a unit", ms, ms, ms},
		{"just over a unit", ms + 1, ms, 2 * ms},
		{"100ms increments", 250 * ms, 100 * ms, 300 * ms},
		{"1ns increments bill exactly", 12345, 1, 12345},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := billedNanos(tc.d, tc.g); got != tc.want {
				t.Errorf("billedNanos(%d, %d) = %d, want %d", tc.d, tc.g, got, tc.want)
			}
		})
	}
}

// TestMeterAccounting feeds invocations to a route's accounting with a
// known billing unit and memory cap and checks what it sums.
func TestMeterAccounting(t *testing.T) {
	type call struct {
		d      time.Duration
		mirror bool
		err    error
	}
	const mib = 1 << 20
	tests := []struct {
		name        string
		granularity time.Duration
		memBytes    uint64
		calls       []call
		invocations uint64
		mirrored    uint64
		wall        time.Duration
		billed      time.Duration
		gbSeconds   float64
	}{
		{
			name: "rounded up per invocation, not in total", granularity: time.Millisecond, memBytes: 128 * mib,
			calls:       []call{{d: 300 * time.Microsecond}, {d: 300 * time.Microsecond}, {d: 1500 * time.Microsecond}},
			invocations: 3, wall: 2100 * time.Microsecond, billed: 4 * time.Millisecond,
			gbSeconds: 0.004 * 0.125,
		},
		{
			name: "100ms increments, 1 GiB", granularity: 100 * time.Millisecond, memBytes: 1024 * mib,
			calls:       []call{{d: 10 * time.Millisecond}, {d: 250 * time.Millisecond}},
			invocations: 2, wall: 260 * time.Millisecond, billed: 400 * time.Millisecond, gbSeconds: 0.4,
		},
		{
			name: "mirrors count and are marked", granularity: time.Millisecond, memBytes: 64 * mib,
			calls:       []call{{d: time.Millisecond}, {d: time.Millisecond, mirror: true}},
			invocations: 2, mirrored: 1, wall: 2 * time.Millisecond, billed: 2 * time.Millisecond,
			gbSeconds: 0.002 / 16,
		},
		{
			name: "failed invocations are billed", granularity: time.Millisecond, memBytes: 64 * mib,
			calls:       []call{{d: 5 * time.Millisecond, err: isolate.ErrDeadline}, {d: 10, err: isolate.ErrTrap}},
			invocations: 2, wall: 5*time.Millisecond + 10, billed: 6 * time.Millisecond, gbSeconds: 0.006 / 16,
		},
		{
			name: "refused before running: not billed", granularity: time.Millisecond, memBytes: 64 * mib,
			calls: []call{
				{d: time.Millisecond, err: &isolate.InvokeError{Kind: isolate.ErrPoolExhausted}},
				{d: time.Millisecond, err: isolate.ErrClosed, mirror: true},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Meter
			// A nil function with its billing cached: no guest needed.
			c.bill.Store(&billing{granularity: int64(tc.granularity), memBytes: tc.memBytes})
			for _, cl := range tc.calls {
				c.Begin()
				if cl.mirror {
					c.EndMirror(nil, cl.d, cl.err)
				} else {
					c.End(nil, cl.d, cl.err)
				}
			}
			u := c.Usage(time.Second)
			if u.Invocations != tc.invocations || u.Mirrored != tc.mirrored {
				t.Errorf("Invocations, Mirrored = %d, %d, want %d, %d", u.Invocations, u.Mirrored, tc.invocations, tc.mirrored)
			}
			if u.Wall != tc.wall || u.Billed != tc.billed {
				t.Errorf("Wall, Billed = %v, %v, want %v, %v", u.Wall, u.Billed, tc.wall, tc.billed)
			}
			if !near(u.GBSeconds, tc.gbSeconds) {
				t.Errorf("GBSeconds = %v, want %v", u.GBSeconds, tc.gbSeconds)
			}
			if u.Granularity != tc.granularity || u.MemoryBytes != tc.memBytes {
				t.Errorf("Granularity, MemoryBytes = %v, %d, want %v, %d", u.Granularity, u.MemoryBytes, tc.granularity, tc.memBytes)
			}
			if u.InFlight != 0 {
				t.Errorf("InFlight = %d after every invocation ended, want 0", u.InFlight)
			}
		})
	}
}

// TestMeterConcurrency plays begin/end schedules and checks the peak,
// the in-flight count and the mean concurrency (summed wall time over the
// window).
func TestMeterConcurrency(t *testing.T) {
	tests := []struct {
		name string
		// steps: +1 begins an invocation, a negative number ends one that
		// ran for that many milliseconds.
		steps    []int
		peak     int64
		inFlight int64
		mean     float64 // over a 100ms window
	}{
		{"none", nil, 0, 0, 0},
		{"one at a time", []int{1, -10, 1, -10, 1, -10}, 1, 0, 0.3},
		{"three overlapping", []int{1, 1, 1, -50, -50, -50}, 3, 0, 1.5},
		{"peak stays after the dip", []int{1, 1, -20, -20, 1, -20}, 2, 0, 0.6},
		{"still running", []int{1, 1, 1, -10}, 3, 2, 0.1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Meter
			c.bill.Store(&billing{granularity: int64(time.Millisecond), memBytes: 1 << 30})
			for _, s := range tc.steps {
				if s > 0 {
					c.Begin()
				} else {
					c.End(nil, time.Duration(-s)*time.Millisecond, nil)
				}
			}
			u := c.Usage(100 * time.Millisecond)
			if u.PeakInFlight != tc.peak || u.InFlight != tc.inFlight {
				t.Errorf("PeakInFlight, InFlight = %d, %d, want %d, %d", u.PeakInFlight, u.InFlight, tc.peak, tc.inFlight)
			}
			if !near(u.MeanConcurrency, tc.mean) {
				t.Errorf("MeanConcurrency = %v, want %v", u.MeanConcurrency, tc.mean)
			}
		})
	}
}

// TestMeterHammer records from many goroutines at once: nothing is lost
// and the peak never passes the number of goroutines.
func TestMeterHammer(t *testing.T) {
	const workers, each = 8, 500
	var c Meter
	c.bill.Store(&billing{granularity: int64(time.Millisecond), memBytes: 1 << 30})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				c.Begin()
				c.End(nil, time.Millisecond, nil)
			}
		})
	}
	wg.Wait()
	u := c.Usage(time.Second)
	if u.Invocations != workers*each || u.InFlight != 0 || u.PeakInFlight < 1 || u.PeakInFlight > workers {
		t.Errorf("usage = %+v, want %d invocations, 0 in flight, peak in 1..%d", u, workers*each, workers)
	}
	if want := float64(workers*each) * 0.001; !near(u.GBSeconds, want) {
		t.Errorf("GBSeconds = %v, want %v", u.GBSeconds, want)
	}
}

// TestMeterRebind checks that the billing unit and memory cap come from
// the route's function, and follow it when a reload changes the function.
func TestMeterRebind(t *testing.T) {
	rt := newRuntime(t)
	a := loadFunction(t, rt, isolate.FunctionOptions{Name: "a", BillingGranularity: 100 * time.Millisecond,
		Policy: limits.Policy{Memory: 2 * limits.MiB}})
	b := loadFunction(t, rt, isolate.FunctionOptions{Name: "b", BillingGranularity: time.Millisecond,
		Policy: limits.Policy{Memory: 4 * limits.MiB}})
	var c Meter
	c.Begin()
	c.End(a, time.Millisecond, nil)
	if u := c.Usage(time.Second); u.Billed != 100*time.Millisecond || u.MemoryBytes != 2<<20 {
		t.Errorf("after a: Billed, MemoryBytes = %v, %d, want 100ms, %d", u.Billed, u.MemoryBytes, 2<<20)
	}
	c.Begin()
	c.End(b, time.Millisecond, nil)
	u := c.Usage(time.Second)
	if u.Billed != 101*time.Millisecond || u.MemoryBytes != 4<<20 || u.Granularity != time.Millisecond {
		t.Errorf("after b: Billed, MemoryBytes, Granularity = %v, %d, %v, want 101ms, %d, 1ms", u.Billed, u.MemoryBytes, u.Granularity, 4<<20)
	}
	// Each invocation's memory-time uses its own function's cap.
	if want := 0.1*2/1024 + 0.001*4/1024; !near(u.GBSeconds, want) {
		t.Errorf("GBSeconds = %v, want %v", u.GBSeconds, want)
	}
}

// BenchmarkMeter is the per-invocation cost of the route accounting,
// from one goroutine and from all of them at once on one route (the
// contended case: every core on the same cache line).
func BenchmarkMeter(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		var c Meter
		c.bill.Store(&billing{granularity: int64(time.Millisecond), memBytes: 64 << 20})
		b.ReportAllocs()
		for b.Loop() {
			c.Begin()
			c.End(nil, 300*time.Microsecond, nil)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var c Meter
		c.bill.Store(&billing{granularity: int64(time.Millisecond), memBytes: 64 << 20})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Begin()
				c.End(nil, 300*time.Microsecond, nil)
			}
		})
	})
}
