package router

import (
	"runtime"
	"testing"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/strangler"
)

// TestBusyFunctionRetryAfter: a request that waited its function's max_wait
// for an instance or an execution slot gets 503 with Retry-After, so clients
// and load balancers back off instead of retrying at once.
func TestBusyFunctionRetryAfter(t *testing.T) {
	loop := loadFunction(t, guestLoop, isolate.FunctionOptions{MaxInstances: 1, MaxWait: 20 * time.Millisecond,
		Policy: limits.Policy{Timeout: time.Second}})
	e := startEdge(t, []strangler.Route{
		{Name: "loop", Path: "/spin", Function: "loop", Stage: strangler.StageRetired},
	}, &World{Functions: map[string]*isolate.Function{"loop": loop}})
	url := "http://" + e.addr + "/spin"
	first := make(chan reply, 1)
	go func() { first <- send(t, "GET", url, nil, "") }()
	for loop.Stats().InUse == 0 {
		if t.Context().Err() != nil {
			t.Fatal("the first request never took the instance")
		}
		runtime.Gosched()
	}
	r := send(t, "GET", url, nil, "")
	if r.status != 503 || r.header.Get("Retry-After") != "1" {
		t.Errorf("GET while the only instance spins = %d, Retry-After %q; want 503, 1", r.status, r.header.Get("Retry-After"))
	}
	if r := <-first; r.status != 504 || r.header.Get("Retry-After") != "" {
		t.Errorf("the spinning request = %d, Retry-After %q; want 504 without it", r.status, r.header.Get("Retry-After"))
	}
}
