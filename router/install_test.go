package router

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/strangler"
)

// TestInstallHammer installs, again and again, a configuration that adds a
// route and the function it names, and one that removes both, while requests
// for that route run. Each request must see the routes and the World of one
// configuration: 404 without the route, 200 with it, never the 502 of a new
// route matched against a World without its function (issue 10). Replacing
// the table and then swapping the World, as the daemon did, fails here.
func TestInstallHammer(t *testing.T) {
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{})
	base := []strangler.Route{{Name: "old", Path: "/old", Function: "old", Stage: strangler.StageRetired, Step: -1}}
	added := append(base[:1:1], strangler.Route{Name: "new", Path: "/new", Function: "new", Stage: strangler.StageRetired, Step: -1})
	before := &World{Functions: map[string]*isolate.Function{"old": hello}}
	after := &World{Functions: map[string]*isolate.Function{"old": hello, "new": hello}}
	table, err := strangler.NewTable(base)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{Table: table}, before)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok200, ok404 atomic.Int64
	var failed atomic.Bool
	for range 4 {
		wg.Go(func() {
			ctx := newCtx("GET", "/new")
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx.Response.Reset()
				srv.Handler(ctx)
				switch st := ctx.Response.StatusCode(); st {
				case 200:
					ok200.Add(1)
				case 404:
					ok404.Add(1)
				default:
					if !failed.Swap(true) {
						t.Errorf("GET /new during installs = %d %q, want 404 or 200", st, ctx.Response.Body())
					}
					return
				}
			}
		})
	}
	// At least 500 installs, and as many as it takes for requests to see
	// both configurations: a loaded machine may not schedule them at first.
	for i := 0; (i < 500 || ok200.Load() < 100 || ok404.Load() < 100) && i < 200_000 && !failed.Load(); i++ {
		routes, w := base, before
		if i%2 == 0 {
			routes, w = added, after
		}
		if _, err := srv.Install(routes, w); err != nil {
			t.Fatal(err)
		}
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	t.Logf("%d answers 200, %d answers 404", ok200.Load(), ok404.Load())
}

// TestInstallRefused checks that an Install with invalid route options or
// routes changes nothing and says why.
func TestInstallRefused(t *testing.T) {
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{})
	routes := []strangler.Route{{Name: "r", Path: "/", Function: "f", Stage: strangler.StageRetired, Step: -1}}
	w := &World{Functions: map[string]*isolate.Function{"f": hello}}
	table, err := strangler.NewTable(routes)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{Table: table}, w)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		routes []strangler.Route
		w      *World
	}{
		{"bad ignore path", nil, &World{Routes: map[string]RouteOptions{"r": {IgnoreFields: []string{"$..x"}}}}},
		{"duplicate route", append(routes[:1:1], routes[0]), &World{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if old, err := srv.Install(tc.routes, tc.w); old != nil || err == nil {
				t.Fatalf("Install() = %p, %v; want nil and an error", old, err)
			}
			if got := srv.world.Load().w; got != w {
				t.Errorf("World after a refused Install = %p, want the one kept %p", got, w)
			}
			if got := table.Snapshot().Len(); got != 1 {
				t.Errorf("routes after a refused Install = %d, want 1", got)
			}
		})
	}
}
