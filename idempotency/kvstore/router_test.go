package kvstore_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/valyala/fasthttp"

	"github.com/edged/edged/idempotency"
	"github.com/edged/edged/idempotency/kvstore"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/router"
	"github.com/edged/edged/strangler"
)

// signalStore reports each StateInFlight answer, so a test knows a duplicate
// is waiting without sleeping.
type signalStore struct {
	idempotency.Store
	inFlight chan struct{}
}

func (s *signalStore) Begin(ctx context.Context, key []byte, fp [32]byte) (idempotency.Begin, error) {
	b, err := s.Store.Begin(ctx, key, fp)
	if b.State == idempotency.StateInFlight {
		s.inFlight <- struct{}{}
	}
	return b, err
}

// fleetFixture is a legacy upstream that counts executions (a charge each)
// behind two edged front ends, each a real router.Server on loopback with its
// own NATS connection and kvstore.Store on one bucket.
type fleetFixture struct {
	t       *testing.T
	runs    atomic.Int64
	entered chan int64
	release chan struct{} // nil: the upstream answers at once
	nodes   []fleetNode
}

type fleetNode struct {
	addr   string
	signal *signalStore
}

func newFleet(t *testing.T, block bool, onConcurrent ...string) *fleetFixture {
	t.Helper()
	f := &fleetFixture{t: t, entered: make(chan int64, 8)}
	if block {
		f.release = make(chan struct{})
	}
	up := serveLoopback(t, func(ctx *fasthttp.RequestCtx) {
		n := f.runs.Add(1)
		f.entered <- n
		if f.release != nil {
			<-f.release
		}
		ctx.SetStatusCode(fasthttp.StatusCreated)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"charge":` + strconv.FormatInt(n, 10) + `}`)
	}, nil)
	ns := startNATS(t)
	bucket := "idem_router_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for i, oc := range onConcurrent {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		store, err := kvstore.New(context.Background(), js, kvstore.Options{Bucket: bucket, Node: "node-" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		sig := &signalStore{Store: store, inFlight: make(chan struct{}, 8)}
		idem, err := idempotency.NewHandler(sig, idempotency.Options{OnConcurrent: oc})
		if err != nil {
			t.Fatal(err)
		}
		table, err := strangler.NewTable([]strangler.Route{{Name: "orders", Path: "/orders", Upstream: "legacy", Step: -1}})
		if err != nil {
			t.Fatal(err)
		}
		legacy, err := proxy.New("legacy", proxy.Options{URL: "http://" + up}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = legacy.Close() })
		rs, err := router.NewServer(router.Config{Table: table}, &router.World{
			Upstreams: map[string]*proxy.Upstream{"legacy": legacy},
			Routes:    map[string]router.RouteOptions{"orders": {Idempotency: idem}},
		})
		if err != nil {
			t.Fatal(err)
		}
		f.nodes = append(f.nodes, fleetNode{addr: serveLoopback(t, nil, rs), signal: sig})
	}
	return f
}

// serveLoopback serves h (or rs) on a fresh loopback port until the test ends.
func serveLoopback(t *testing.T, h fasthttp.RequestHandler, rs *router.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	if rs != nil {
		go func() { defer close(done); _ = rs.Serve(ln) }()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = rs.Shutdown(ctx)
			<-done
		})
	} else {
		s := &fasthttp.Server{Handler: h}
		go func() { defer close(done); _ = s.Serve(ln) }()
		t.Cleanup(func() { _ = ln.Close(); _ = s.Shutdown(); <-done })
	}
	return ln.Addr().String()
}

func startNATS(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

type answer struct {
	status   int
	body     string
	replayed bool
}

// post sends POST /orders with an Idempotency-Key to node i.
func (f *fleetFixture) post(i int, key, body string) answer {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI("http://" + f.nodes[i].addr + "/orders")
	req.Header.Set(idempotency.KeyHeader, key)
	req.SetBodyString(body)
	if err := fasthttp.DoTimeout(req, resp, 20*time.Second); err != nil {
		f.t.Errorf("POST to node %d: %v", i, err)
		return answer{}
	}
	return answer{resp.StatusCode(), string(resp.Body()), string(resp.Header.Peek(idempotency.ReplayedHeader)) == "true"}
}

// TestRouterFleetRetriedPostRunsOnce: a client retries a POST through another
// edged node (a load balancer's choice); the charge runs once and the retry
// gets the first answer, replayed.
func TestRouterFleetRetriedPostRunsOnce(t *testing.T) {
	f := newFleet(t, false, idempotency.Wait, idempotency.Wait)
	first := f.post(0, "order-42", `{"amount":100}`)
	<-f.entered
	if first.status != 201 || first.replayed {
		t.Fatalf("first POST on node 0 = %+v, want a fresh 201", first)
	}
	for i, node := range []int{1, 0, 1} {
		if got := f.post(node, "order-42", `{"amount":100}`); got.status != 201 || got.body != first.body || !got.replayed {
			t.Errorf("retry %d on node %d = %+v, want %q replayed", i, node, got, first.body)
		}
	}
	if got := f.post(1, "order-42", `{"amount":999}`); got.status != 422 {
		t.Errorf("same key, other body on node 1 = %+v, want 422", got)
	}
	if got := f.runs.Load(); got != 1 {
		t.Errorf("upstream ran %d times, want 1 (customer charged twice)", got)
	}
}

// TestRouterFleetConcurrentDuplicate: a duplicate reaches node 1 while node 0
// still runs the request: in wait mode it waits and gets the same answer, in
// conflict mode 409 at once; either way the charge runs once.
func TestRouterFleetConcurrentDuplicate(t *testing.T) {
	tests := []struct {
		mode       string
		wantStatus int
	}{
		{idempotency.Wait, 201},
		{idempotency.Conflict, 409},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			f := newFleet(t, true, idempotency.Wait, tc.mode)
			firstc := make(chan answer, 1)
			go func() { firstc <- f.post(0, "order-7", "x") }()
			<-f.entered // node 0 runs the request
			dupc := make(chan answer, 1)
			go func() { dupc <- f.post(1, "order-7", "x") }()
			<-f.nodes[1].signal.inFlight // node 1 saw the key in flight
			if tc.mode == idempotency.Conflict {
				if dup := <-dupc; dup.status != 409 || !strings.Contains(dup.body, "idempotency_in_progress") {
					t.Errorf("duplicate on node 1 = %+v, want 409 idempotency_in_progress", dup)
				}
			}
			close(f.release)
			first := <-firstc
			if first.status != 201 || first.replayed {
				t.Fatalf("first = %+v, want a fresh 201", first)
			}
			if tc.mode == idempotency.Wait {
				if dup := <-dupc; dup.status != tc.wantStatus || dup.body != first.body || !dup.replayed {
					t.Errorf("duplicate on node 1 = %+v, want %q replayed", dup, first.body)
				}
			}
			if got := f.runs.Load(); got != 1 {
				t.Errorf("upstream ran %d times, want 1", got)
			}
		})
	}
}
