package wasmrw

import (
	"context"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// BenchmarkRewrite measures rewriting throughput on a real standard-Go guest
// (about 2.8 MB) and on the C guest.
func BenchmarkRewrite(b *testing.B) {
	for _, g := range []struct {
		name  string
		build func(testing.TB) []byte
	}{{"go", goGuest}, {"c", cGuest}} {
		b.Run(g.name, func(b *testing.B) {
			bin := g.build(b)
			o := Options{YieldModule: "edged", YieldName: "yield", MaxMemoryPages: 16384, ExportMutableGlobals: true}
			b.SetBytes(int64(len(bin)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Rewrite(bin, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoop runs spin.wat's count(n), a loop whose body is a single
// add-and-compare: the worst case for per-iteration overhead. Compare the
// plain and fuel sub-benchmarks for the instrumentation's cost.
func BenchmarkLoop(b *testing.B) {
	const n = 1_000_000
	bin := readTestdata(b, "spin.wasm")
	for _, tc := range []struct {
		name string
		fuel int32
	}{{"plain", 0}, {"fuel", DefaultInitialFuel}} {
		b.Run(tc.name, func(b *testing.B) {
			code := bin
			var y *yielder
			if tc.fuel != 0 {
				code = mustRewrite(b, bin, fuelOptions(tc.fuel)).Binary
				y = &yielder{budget: tc.fuel}
			}
			m := instantiate(b, newRuntime(b, y), code, "spin")
			count := m.ExportedFunction("count")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := count.Call(ctx, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/iter")
		})
	}
}

// BenchmarkYieldInterval measures the wall-clock time between two calls of
// the yield function in a spinning guest with the default budget: the
// granularity at which a deadline can be noticed.
func BenchmarkYieldInterval(b *testing.B) {
	res := mustRewrite(b, readTestdata(b, "spin.wasm"), fuelOptions(DefaultInitialFuel))
	var last time.Time
	var total time.Duration
	var intervals int64
	y := &yielder{budget: DefaultInitialFuel}
	r := newRuntime(b, nil)
	_, err := r.NewHostModuleBuilder("edged").NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			now := time.Now()
			if !last.IsZero() {
				total += now.Sub(last)
				intervals++
			}
			last = now
			y.yield(ctx, m, stack)
		}), nil, []api.ValueType{api.ValueTypeI32}).
		Export("yield").Instantiate(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	m := instantiate(b, r, res.Binary, "spin")
	count := m.ExportedFunction("count")
	b.ReportAllocs()
	for b.Loop() {
		// 100 budgets per call.
		if _, err := count.Call(context.Background(), 100*DefaultInitialFuel); err != nil {
			b.Fatal(err)
		}
	}
	if intervals > 0 {
		b.ReportMetric(float64(total.Nanoseconds())/float64(intervals), "ns/yield")
	}
}

// BenchmarkCGuest runs the C guest's main (about 11 million Collatz steps,
// a recursive fib and a qsort) plain and instrumented: a realistic measure
// of the instrumentation's cost, next to BenchmarkLoop's worst case.
func BenchmarkCGuest(b *testing.B) {
	bin := cGuest(b)
	for _, tc := range []struct {
		name string
		fuel int32
	}{{"plain", 0}, {"fuel", DefaultInitialFuel}} {
		b.Run(tc.name, func(b *testing.B) {
			code := bin
			var y *yielder
			if tc.fuel != 0 {
				code = mustRewrite(b, bin, fuelOptions(tc.fuel)).Binary
				y = &yielder{budget: tc.fuel}
			}
			ctx := context.Background()
			r := newRuntime(b, y)
			wasi_snapshot_preview1.MustInstantiate(ctx, r)
			cm, err := r.CompileModule(ctx, code)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				m, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
				if err != nil {
					b.Fatal(err)
				}
				_ = m.Close(ctx)
			}
		})
	}
}
