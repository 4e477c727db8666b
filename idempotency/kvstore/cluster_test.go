package kvstore

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/idempotency"
)

// startCluster runs three nats-servers on loopback forming one JetStream
// cluster, as three edged nodes' embedded servers do, and waits until
// JetStream answers through each of them.
func startCluster(t *testing.T) []*server.Server {
	t.Helper()
	// Every server routes to all three (JetStream needs routes configured
	// on each), so the route ports are chosen first.
	ports := make([]int, 3)
	routes := make([]string, 3)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
		_ = ln.Close()
	}
	var servers []*server.Server
	for i := range 3 {
		ns := startNATSWith(t, func(o *server.Options) {
			o.ServerName = fmt.Sprintf("n%d", i)
			o.Cluster = server.ClusterOpts{Name: "edged-test", Host: "127.0.0.1", Port: ports[i]}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		})
		servers = append(servers, ns)
	}
	for _, ns := range servers {
		n := connect(t, ns)
		ready := false
		// JetStream's meta leader is elected in the background; nothing
		// signals it to a client, so ask, a bounded number of times.
		for range 200 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := n.js.AccountInfo(ctx)
			cancel()
			if err == nil {
				ready = true
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !ready {
			t.Fatalf("JetStream not ready on %s", ns.Name())
		}
		n.nc.Close()
	}
	return servers
}

// connectAll connects to servers, preferring the first and failing over to
// the others, as an edged node configured with the cluster's URLs does.
func connectAll(t *testing.T, servers ...*server.Server) node {
	t.Helper()
	urls := make([]string, len(servers))
	for i, ns := range servers {
		urls[i] = ns.ClientURL()
	}
	reconnected := make(chan struct{}, 1)
	nc, err := nats.Connect(strings.Join(urls, ","), nats.DontRandomize(), nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond), nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return node{nc: nc, js: js, reconnected: reconnected}
}

// TestClusterReplicated: two nodes connected to different servers of a
// three-server cluster share a bucket with three replicas. Compare-and-swap
// holds across servers (a replicated stream reports a conflict with another
// error code), and the store keeps working when a server dies, including the
// one a node is connected to.
func TestClusterReplicated(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server NATS cluster")
	}
	servers := startCluster(t)
	o := Options{Bucket: uniqueBucket(), Replicas: 3}
	oa, ob := o, o
	oa.Node, ob.Node = "a", "b"
	na := connectAll(t, servers[0], servers[1], servers[2])
	a := storeCheck{t: t, s: openStore(t, na, oa)}
	b := storeCheck{t: t, s: openStore(t, connectAll(t, servers[1], servers[2], servers[0]), ob)}

	a.begin("k1", fpA, idempotency.StateNew)
	w := b.begin("k1", fpA, idempotency.StateInFlight)
	b.begin("k1", fpB, idempotency.StateMismatch)
	a.complete("k1", response("one"))
	closedWithin(t, w.Done, 10*time.Second, "waiter on another server")
	// A read may reach a replica that has not applied the write yet; the
	// Handler then waits and asks again, as the loop here does.
	var got idempotency.Begin
	for range 50 {
		var err error
		if got, err = b.s.Begin(context.Background(), []byte("k1"), fpA); err != nil {
			t.Fatal(err)
		}
		if got.State != idempotency.StateInFlight {
			break
		}
		<-got.Done
	}
	if got.State != idempotency.StateReplay || string(got.Response.Body) != "one" {
		t.Fatalf("B = %v, want the replay of one", got.State)
	}

	// A race for one key from both nodes, through two servers: one winner.
	won := make(chan bool, 6)
	for i := range 6 {
		s := []idempotency.Store{a.s, b.s}[i%2]
		go func() {
			bg, err := s.Begin(context.Background(), []byte("race"), fpA)
			if err != nil {
				t.Errorf("racing Begin: %v", err)
			}
			won <- bg.State == idempotency.StateNew
		}()
	}
	winners := 0
	for range 6 {
		if <-won {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d of 6 racing Begins won the key, want 1", winners)
	}

	// A's server dies: A fails over, and the bucket (two replicas of three
	// left) still decides.
	servers[0].Shutdown()
	servers[0].WaitForShutdown()
	start := time.Now()
	// Until A's client has reconnected, a Begin fails at once ("not
	// connected"), so 20 of them would not span the failover.
	select {
	case <-na.reconnected:
	case <-time.After(30 * time.Second):
		t.Fatal("A did not reconnect to another server within 30s")
	}
	var err error
	for range 20 { // each Begin waits at most JetStream's timeout while the bucket fails over
		var bg idempotency.Begin
		bg, err = a.s.Begin(context.Background(), []byte("k2"), fpA)
		if err == nil {
			if bg.State != idempotency.StateNew {
				t.Fatalf("A Begin(k2) after failover = %v, want new", bg.State)
			}
			break
		}
	}
	if err != nil {
		t.Fatalf("A Begin after its server died: %v", err)
	}
	t.Logf("A claimed a key %v after its server died", time.Since(start).Round(time.Millisecond))
	b.begin("k2", fpA, idempotency.StateInFlight)
	a.complete("k2", response("two"))
	if r := a.begin("k1", fpA, idempotency.StateReplay).Response; string(r.Body) != "one" {
		t.Errorf("k1 after failover replayed %q, want one", r.Body)
	}
}
