package router

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/strangler"
)

// BenchmarkFairShareHTTP is the latency of a healthy route (the C guest, one
// client on a keep-alive loopback connection) alone and while other clients
// keep a route to a spinning guest (loop.wasm, 50ms deadline) busy: as many
// as the runtime has execution slots (cores), and 50. It reports the healthy
// route's p50 and p99. The slots are shared fairly between functions, so the
// healthy invocation no longer queues behind the spinners' deadlines (seconds
// at 50); what remains with a guest spinning on every P is the Go
// scheduler's: a goroutine running guest code keeps its P between fuel
// checks, and network goroutines wait for one.
func BenchmarkFairShareHTTP(b *testing.B) {
	hello := loadFunction(b, guestHelloC, isolate.FunctionOptions{MinInstances: 1})
	loop := loadFunction(b, guestLoop, isolate.FunctionOptions{MaxInstances: 64, MaxWait: time.Minute,
		Policy: limits.Policy{Timeout: 50 * time.Millisecond}})
	e := startEdge(b, []strangler.Route{
		{Name: "hello", Path: "/fast", Function: "hello", Stage: strangler.StageRetired},
		{Name: "loop", Path: "/spin", Function: "loop", Stage: strangler.StageRetired},
	}, &World{Functions: map[string]*isolate.Function{"hello": hello, "loop": loop}})
	get := func(c *http.Client, url string) (int, error) {
		resp, err := c.Get(url)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, err
	}
	for _, bc := range []struct {
		name     string
		spinners int
	}{
		{"alone", 0},
		{"spinners=cores", runtime.GOMAXPROCS(0)},
		{"spinners=50", 50},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range bc.spinners {
				wg.Go(func() {
					c := &http.Client{Transport: &http.Transport{}}
					defer c.CloseIdleConnections()
					for ctx.Err() == nil {
						if code, err := get(c, "http://"+e.addr+"/spin"); err != nil || code != http.StatusGatewayTimeout {
							b.Errorf("GET /spin = %d, %v; want 504", code, err)
							return
						}
					}
				})
			}
			defer func() { stop(); wg.Wait() }()
			c := &http.Client{Transport: &http.Transport{}}
			defer c.CloseIdleConnections()
			url := "http://" + e.addr + "/fast/hello"
			lat := make([]time.Duration, 0, 1<<16)
			for b.Loop() {
				start := time.Now()
				if code, err := get(c, url); err != nil || code != http.StatusOK {
					b.Fatalf("GET /fast/hello = %d, %v", code, err)
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
