package isolate

import (
	"context"
	"errors"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/limits"
)

// Benchmarks for the isolate rows of docs/performance.md's table. Compare
// runs with benchstat; the machines are noisy, so quote medians.
//
//	go test -run '^$' -bench . -count 6 ./isolate | tee new.txt

const goEcho = "testdata/goecho/goecho.wasm"

// BenchmarkWarm is a warm invocation, 1 KiB in and 1 KiB out, deadline
// enforced (fuel instrumentation is always on).
func BenchmarkWarm(b *testing.B) {
	for _, bc := range []struct{ name, guest, uri string }{
		{"c", cGuest, "/fast/echo"},
		{"go", goEcho, "/echo"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rt := newRuntime(b, RuntimeOptions{})
			f := load(b, rt, bc.guest, FunctionOptions{MinInstances: 1})
			req := newRequest("POST", bc.uri, strings.Repeat("x", 1024))
			var resp Response
			if err := f.Handle(context.Background(), req, &resp, nil); err != nil || len(resp.Body) != 1024 {
				b.Fatalf("Handle = %v, %d bytes", err, len(resp.Body))
			}
			b.ReportAllocs()
			b.SetBytes(1024)
			for b.Loop() {
				if err := f.Handle(context.Background(), req, &resp, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFresh is a fresh instance per request: instantiate (from the
// compiled module, and for the Go guest from its snapshot), invoke, discard.
func BenchmarkFresh(b *testing.B) {
	for _, bc := range []struct {
		name, guest, uri string
		opts             FunctionOptions
	}{
		{"c", cGuest, "/fast/echo", FunctionOptions{Fresh: true}},
		{"go", goEcho, "/echo", FunctionOptions{Fresh: true}},
		{"go-no-snapshot", goEcho, "/echo", FunctionOptions{Fresh: true, DisableSnapshot: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rt := newRuntime(b, RuntimeOptions{})
			f := load(b, rt, bc.guest, bc.opts)
			req := newRequest("POST", bc.uri, strings.Repeat("x", 1024))
			var resp Response
			b.ReportAllocs()
			for b.Loop() {
				if err := f.Handle(context.Background(), req, &resp, nil); err != nil {
					b.Fatal(err)
				}
			}
			st := f.Stats()
			b.ReportMetric(float64(st.InstantiateTotal.Nanoseconds())/float64(st.ColdStarts), "instantiate-ns/op")
		})
	}
}

// BenchmarkDeadlineOverrun measures how far past a 10ms deadline a runaway
// guest is stopped while GOMAXPROCS guests spin at once. It reports the
// median and worst overrun.
func BenchmarkDeadlineOverrun(b *testing.B) {
	for _, bc := range []struct{ name, guest string }{
		{"wat-loop", "testdata/loop.wasm"},
		{"go-loop", "testdata/goloop/goloop.wasm"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const timeout = 10 * time.Millisecond
			rt := newRuntime(b, RuntimeOptions{})
			n := runtime.GOMAXPROCS(0)
			f := load(b, rt, bc.guest, FunctionOptions{MaxInstances: n, Policy: limits.Policy{Timeout: timeout}})
			var (
				mu       sync.Mutex
				overruns []time.Duration
			)
			for b.Loop() {
				var wg sync.WaitGroup
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var resp Response
						var inv time.Duration
						start := time.Now()
						err := f.Handle(context.Background(), newRequest("GET", "/", ""), &resp, nil)
						inv = time.Since(start)
						if !errors.Is(err, ErrDeadline) {
							b.Errorf("Handle = %v, want ErrDeadline", err)
							return
						}
						mu.Lock()
						overruns = append(overruns, inv-timeout)
						mu.Unlock()
					}()
				}
				wg.Wait()
			}
			slices.Sort(overruns)
			if len(overruns) > 0 {
				b.ReportMetric(float64(overruns[len(overruns)/2].Microseconds()), "p50-overrun-µs")
				b.ReportMetric(float64(overruns[len(overruns)-1].Microseconds()), "max-overrun-µs")
			}
		})
	}
}

// BenchmarkRestartToReady is a daemon restart with a warm compilation cache:
// a new runtime loads the example guests (four Go, one C) and takes the Go
// guests' snapshots. The first, uncached load happens before the timer.
func BenchmarkRestartToReady(b *testing.B) {
	guests := []string{cGuest, goHello, goEcho, goAuth, "../examples/guests/jsonapi/jsonapi.wasm"}
	for _, g := range guests {
		if _, err := os.Stat(g); err != nil {
			b.Skipf("guest %s not built", g)
		}
	}
	dir := b.TempDir()
	ready := func() {
		rt, err := NewRuntime(context.Background(), RuntimeOptions{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		for _, g := range guests {
			if _, err := rt.Load(context.Background(), Source{Path: g}, FunctionOptions{Name: g}); err != nil {
				b.Fatal(err)
			}
		}
		_ = rt.Close(context.Background())
	}
	ready() // fills the cache
	for b.Loop() {
		ready()
	}
}

// BenchmarkFairShare is the latency of a healthy function (the C guest, one
// caller at a time) alone and while other callers keep a spinning function
// (testdata/loop.wasm, 50ms deadline) busy: as many callers as slots (cores),
// and 50, most of them queued. It reports the healthy p50 and p99; with fair
// slots the p99 with spinners stays near the one alone, where a FIFO shared
// by all functions made it several spinner deadlines.
func BenchmarkFairShare(b *testing.B) {
	n := runtime.GOMAXPROCS(0)
	for _, bc := range []struct {
		name     string
		spinners int
	}{
		{"alone", 0},
		{"spinners=cores", n},
		{"spinners=50", 50},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rt := newRuntime(b, RuntimeOptions{})
			healthy := load(b, rt, cGuest, FunctionOptions{Name: "healthy", MinInstances: 1})
			spinner := load(b, rt, "testdata/loop.wasm", FunctionOptions{Name: "spinner", MaxInstances: max(bc.spinners, 1),
				MaxWait: time.Minute, Policy: limits.Policy{Timeout: 50 * time.Millisecond}})
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range bc.spinners {
				wg.Go(func() {
					req := newRequest("GET", "/", "")
					var resp Response
					for ctx.Err() == nil {
						if err := spinner.Handle(ctx, req, &resp, nil); !errors.Is(err, ErrDeadline) && ctx.Err() == nil {
							b.Errorf("spinner Handle = %v, want ErrDeadline", err)
							return
						}
					}
				})
			}
			defer func() { stop(); wg.Wait() }()
			if bc.spinners > 0 {
				for {
					if inUse, limit := rt.Concurrency(); inUse == limit {
						break
					}
					runtime.Gosched()
				}
			}
			req := newRequest("GET", "/", "")
			var resp Response
			lat := make([]time.Duration, 0, 1<<16)
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if err := healthy.Handle(context.Background(), req, &resp, nil); err != nil {
					b.Fatal(err)
				}
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(start))
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
		})
	}
}
