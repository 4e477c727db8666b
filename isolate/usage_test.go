package isolate

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestBilled(t *testing.T) {
	tests := []struct {
		name    string
		d, g    int64
		want    int64
		comment string
	}{
		{name: "zero", d: 0, g: 1000, want: 0},
		{name: "exact", d: 2000, g: 1000, want: 2000},
		{name: "round up", d: 2001, g: 1000, want: 3000},
		{name: "below one unit", d: 1, g: int64(time.Millisecond), want: int64(time.Millisecond)},
		{name: "unit of 1ns", d: 12345, g: 1, want: 12345},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := billed(tt.d, tt.g); got != tt.want {
				t.Errorf("billed(%d, %d) = %d, want %d", tt.d, tt.g, got, tt.want)
			}
		})
	}
}

func TestUsageSequential(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	for _, g := range []time.Duration{0, 100 * time.Millisecond} {
		t.Run(g.String(), func(t *testing.T) {
			f := load(t, rt, cGuest, FunctionOptions{MinInstances: 1, BillingGranularity: g})
			const n = 5
			for i := 0; i < n; i++ {
				var resp Response
				if err := f.Handle(context.Background(), newRequest("GET", "/", ""), &resp, nil); err != nil {
					t.Fatalf("Handle: %v", err)
				}
			}
			u := f.Usage()
			unit := g
			if unit == 0 {
				unit = time.Millisecond
			}
			if u.Invocations != n {
				t.Errorf("Invocations = %d, want %d", u.Invocations, n)
			}
			if u.Granularity != unit {
				t.Errorf("Granularity = %v, want %v", u.Granularity, unit)
			}
			if u.Exec <= 0 || u.Billed < u.Exec {
				t.Errorf("Exec = %v, Billed = %v, want 0 < Exec <= Billed", u.Exec, u.Billed)
			}
			if u.Billed%unit != 0 {
				t.Errorf("Billed = %v, want a multiple of %v", u.Billed, unit)
			}
			// Every call bills at least one unit, and rounding up adds less
			// than one unit per call; how long a call takes depends on the
			// machine, so only these bounds are fixed.
			if u.Billed < n*unit || u.Billed >= u.Exec+n*unit {
				t.Errorf("Billed = %v, want in [%v, %v)", u.Billed, n*unit, u.Exec+n*unit)
			}
			wantGBs := u.Billed.Seconds() * float64(u.MemoryBytes) / (1 << 30)
			if u.GBSeconds != wantGBs || u.MemoryBytes != f.memCap {
				t.Errorf("GBSeconds = %v (memory %d), want %v (memory %d)", u.GBSeconds, u.MemoryBytes, wantGBs, f.memCap)
			}
			if u.InFlight != 0 || u.PeakInFlight != 1 {
				t.Errorf("InFlight, PeakInFlight = %d, %d, want 0, 1", u.InFlight, u.PeakInFlight)
			}
			if u.InFlightTime < u.Exec || u.Busy < u.Exec {
				t.Errorf("InFlightTime = %v, Busy = %v, want both >= Exec %v", u.InFlightTime, u.Busy, u.Exec)
			}
			if u.MeanConcurrency <= 0 || u.MeanConcurrency > 1 {
				t.Errorf("MeanConcurrency = %v, want in (0, 1] for sequential calls", u.MeanConcurrency)
			}
			if u.InstanceTime <= 0 || u.InstanceTime > u.Elapsed {
				t.Errorf("InstanceTime = %v, want in (0, Elapsed %v] with one instance", u.InstanceTime, u.Elapsed)
			}
			if u.Utilization <= 0 || u.Utilization > 1 {
				t.Errorf("Utilization = %v, want in (0, 1]", u.Utilization)
			}
		})
	}
}

func TestUsageConcurrent(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	const n = 4
	f := load(t, rt, tdNext, FunctionOptions{MaxInstances: n})
	// Hold n invocations in flight at once: next returns only when all n
	// guests have called it, so the peak must be exactly n.
	var arrived sync.WaitGroup
	arrived.Add(n)
	next := func(ctx context.Context, req *Request, resp *Response) error {
		arrived.Done()
		arrived.Wait()
		resp.Status = 200
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Go(func() {
			var resp Response
			errs <- f.Handle(context.Background(), newRequest("GET", "/", ""), &resp, next)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Handle: %v", err)
		}
	}
	u := f.Usage()
	if u.Invocations != n {
		t.Errorf("Invocations = %d, want %d", u.Invocations, n)
	}
	if u.PeakInFlight != n {
		t.Errorf("PeakInFlight = %d, want %d", u.PeakInFlight, n)
	}
	if u.InFlight != 0 {
		t.Errorf("InFlight = %d after all returned, want 0", u.InFlight)
	}
	if u.Billed < u.Exec || u.Billed < n*time.Millisecond {
		t.Errorf("Billed = %v, want >= Exec %v and >= %v", u.Billed, u.Exec, n*time.Millisecond)
	}
	if u.MeanConcurrency <= 0 || u.MeanConcurrency > n {
		t.Errorf("MeanConcurrency = %v, want in (0, %d]", u.MeanConcurrency, n)
	}
	if u.Utilization <= 0 || u.Utilization > 1 {
		t.Errorf("Utilization = %v, want in (0, 1]", u.Utilization)
	}
}

func TestUsageSlowGuest(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	f := load(t, rt, "testdata/slow.wasm", FunctionOptions{BillingGranularity: time.Nanosecond})
	var resp Response
	if err := f.Handle(context.Background(), newRequest("GET", "/", ""), &resp, nil); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	u := f.Usage()
	// With a 1ns unit nothing is rounded.
	if u.Billed != u.Exec || u.Exec <= 0 {
		t.Errorf("Billed = %v, Exec = %v, want equal and > 0", u.Billed, u.Exec)
	}
	if u.Busy < u.Exec {
		t.Errorf("Busy = %v < Exec = %v", u.Busy, u.Exec)
	}
}

func BenchmarkUsageRecord(b *testing.B) {
	var u usage
	u.granularity = int64(time.Millisecond)
	inv := Invocation{Exec: 1500 * time.Microsecond}
	b.ReportAllocs()
	for b.Loop() {
		u.enter()
		u.leave(0, 10, &inv)
	}
}
