package kvstore_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/events"
	"github.com/edged/edged/idempotency"
	"github.com/edged/edged/idempotency/kvstore"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/router"
	"github.com/edged/edged/strangler"
)

// Example plugs the fleet store into the router. The daemon builds each
// idempotent route's idempotency.Handler (internal/daemon, world.go); with
// `[fleet] state = "nats"` it passes a kvstore.Store on the `[events]`
// connection instead of nil (a MemoryStore), derived per route with the
// route's limits. Everything else is unchanged.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "kvstore-example")
	defer os.RemoveAll(dir)

	// The [events] connection: here the embedded NATS server.
	ev, err := events.Open(ctx, events.Options{StoreDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ev.Close(ctx)

	// One store per node; every node of the fleet opens the same bucket.
	store, err := kvstore.New(ctx, ev.JetStream(), kvstore.Options{Node: "edge-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Per route: the store with the route's [routes.idempotency] limits.
	route, err := store.Derive(kvstore.Options{TTL: 24 * time.Hour, MaxResponseBytes: 64 << 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	idem, err := idempotency.NewHandler(route, idempotency.Options{}) // was: NewHandler(nil, ...)
	if err != nil {
		fmt.Println(err)
		return
	}

	// A legacy upstream that charges on every call it gets.
	var charges atomic.Int64
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusCreated)
		fmt.Fprintf(ctx, `{"charge":%d}`, charges.Add(1))
	}}
	go up.Serve(ln)
	defer up.Shutdown()
	legacy, _ := proxy.New("legacy", proxy.Options{URL: "http://" + ln.Addr().String()}, nil)
	defer legacy.Close()

	table, _ := strangler.NewTable([]strangler.Route{{Name: "payments", Path: "/charges", Upstream: "legacy", Step: -1}})
	srv, err := router.NewServer(router.Config{Table: table}, &router.World{
		Upstreams: map[string]*proxy.Upstream{"legacy": legacy},
		Routes:    map[string]router.RouteOptions{"payments": {Idempotency: idem}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	front, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(front)
	defer srv.Shutdown(ctx)

	for range 2 { // a client's retry, which a load balancer may send to any node
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI("http://" + front.Addr().String() + "/charges")
		req.Header.Set(idempotency.KeyHeader, "order-42")
		req.SetBodyString(`{"amount":100}`)
		if err := fasthttp.Do(req, resp); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%d %s replayed=%q\n", resp.StatusCode(), resp.Body(), resp.Header.Peek(idempotency.ReplayedHeader))
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	fmt.Println("charges:", charges.Load())
	// Output:
	// 201 {"charge":1} replayed=""
	// 201 {"charge":1} replayed="true"
	// charges: 1
}
