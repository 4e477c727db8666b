package events_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/events"
	"github.com/edged/edged/internal/natstest"
)

// TestMain lets the test binary run as a node of natstest.StartCluster.
func TestMain(m *testing.M) { natstest.Main(m) }

// clusterWait bounds each wait of the cluster test: a leader election after
// a kill -9 takes seconds (nats-server's election timeout is 4 to 9 s).
const clusterWait = natstest.Wait

// seen records the event ids a trigger's function received.
type seen struct {
	mu  sync.Mutex
	ids map[string]int
	ch  chan string
}

func newSeen() *seen { return &seen{ids: map[string]int{}, ch: make(chan string, 100)} }

func (s *seen) Invoke(_ context.Context, req *http.Request) (int, http.Header, error) {
	id := req.Header.Get(events.HeaderID)
	s.mu.Lock()
	s.ids[id]++
	s.mu.Unlock()
	s.ch <- id
	return http.StatusOK, nil, nil
}

// await waits until the function has received id.
func (s *seen) await(t *testing.T, id string) {
	t.Helper()
	timeout := time.After(clusterWait)
	for {
		select {
		case got := <-s.ch:
			if got == id {
				return
			}
		case <-timeout:
			t.Fatalf("event %s not delivered within %s", id, clusterWait)
		}
	}
}

func (s *seen) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

// publish publishes the event with id through srv, again until JetStream
// stores it: while a leader is elected, publishes fail. The fixed id makes
// every repeat a duplicate that JetStream stores once.
func publish(t *testing.T, srv *events.Server, id string) {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := srv.PublishEvent(ctx, "orders.new", &events.Event{ID: id, Type: "order", Data: []byte(id)})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %s: not stored within %s: %v", id, clusterWait, err)
		}
		time.Sleep(200 * time.Millisecond) // an election has no notification to wait on
	}
}

// streamPeers returns the stream's replica count and its peers (leader
// first) that are current, read through js.
func streamPeers(js jetstream.JetStream, stream string) (replicas int, current []string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, nil, err
	}
	info := st.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return info.Config.Replicas, nil, errors.New("no leader")
	}
	current = []string{info.Cluster.Leader}
	for _, p := range info.Cluster.Replicas {
		if p.Current && !p.Offline {
			current = append(current, p.Name)
		}
	}
	return info.Config.Replicas, current, nil
}

// awaitPeers waits until the stream has want current peers.
func awaitPeers(t *testing.T, js jetstream.JetStream, stream string, want int) {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	for {
		_, current, err := streamPeers(js, stream)
		if err == nil && len(current) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s: current peers %v (err %v), want %d within %s", stream, current, err, want, clusterWait)
		}
		time.Sleep(100 * time.Millisecond) // peer state has no notification to wait on
	}
}

// TestClusterOfThreeNodes starts three embedded servers as child processes
// forming one cluster (events.Options.Cluster): an event published through
// node 1 is consumed by a trigger on node 2; the stream is replicated three
// times, so after kill -9 of the node leading the stream, the consumer and
// the completion bucket, publishing and consuming still work, and each event
// gets its completion record; restarted, the
// node rejoins and serves again.
func TestClusterOfThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three NATS servers as processes")
	}
	ctx := context.Background()
	c := natstest.StartCluster(t, 3)
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]

	// The trigger runs on node 2, the publisher on node 1. They pass the
	// cluster's replicas, as the nodes' own Open did by default.
	consumer, err := events.NewWithConn(ctx, n2.Connect(t), events.Options{Replicas: 3})
	if err != nil {
		t.Fatalf("NewWithConn on node 2: %v", err)
	}
	t.Cleanup(func() { _ = consumer.Close(context.Background()) })
	fn := newSeen()
	if _, err := consumer.Subscribe(ctx, events.Trigger{Name: "orders", Subject: "orders.new"}, fn); err != nil {
		t.Fatalf("Subscribe on node 2: %v", err)
	}
	producer, err := events.NewWithConn(ctx, n1.Connect(t), events.Options{Replicas: 3, Source: "test"})
	if err != nil {
		t.Fatalf("NewWithConn on node 1: %v", err)
	}
	t.Cleanup(func() { _ = producer.Close(context.Background()) })

	js1 := producer.JetStream()
	for _, stream := range []string{"EDGED_orders", "EDGED_DLQ_orders", "KV_edged_events", "KV_edged_ticks"} {
		replicas, _, err := streamPeers(js1, stream)
		if err != nil || replicas != 3 {
			t.Errorf("stream %s: replicas %d (err %v), want 3", stream, replicas, err)
		}
	}

	publish(t, producer, "before")
	fn.await(t, "before")

	// Node 3 leads everything the delivery goes through, so its death
	// forces every one of them to fail over.
	natstest.MoveStreamLeader(t, js1, "EDGED_orders", n3.Spec.Name)
	natstest.MoveConsumerLeader(t, js1, "EDGED_orders", "orders", n3.Spec.Name)
	natstest.MoveStreamLeader(t, js1, "KV_edged_events", n3.Spec.Name)
	n3.Kill(t)

	publish(t, producer, "after-kill")
	fn.await(t, "after-kill")
	awaitPeers(t, js1, "EDGED_orders", 2)

	n3.Start(t)
	awaitPeers(t, js1, "EDGED_orders", 3)
	awaitPeers(t, js1, "KV_edged_events", 3)
	// The restarted node serves JetStream again: publish through it.
	rejoined, err := events.NewWithConn(ctx, n3.Connect(t), events.Options{Replicas: 3, Source: "test"})
	if err != nil {
		t.Fatalf("NewWithConn on the restarted node 3: %v", err)
	}
	t.Cleanup(func() { _ = rejoined.Close(context.Background()) })
	publish(t, rejoined, "after-restart")
	fn.await(t, "after-restart")

	for _, id := range []string{"before", "after-kill", "after-restart"} {
		if n := fn.count(id); n != 1 {
			t.Errorf("event %s ran %d times, want 1", id, n)
		}
		awaitDone(t, producer, id)
	}
}

// awaitDone waits until the completion record of the event test+id says
// done: the trigger stores it (in a fast batch on the replicated bucket)
// after the function returned, so it may lag the run.
func awaitDone(t *testing.T, srv *events.Server, id string) {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	for {
		recs, err := srv.Status(context.Background(), "test", id)
		if err == nil && len(recs) == 1 && recs[0].State == events.StateDone {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s: records %+v (err %v), want one done within %s", id, recs, err, clusterWait)
		}
		time.Sleep(50 * time.Millisecond) // a record has no notification to wait on
	}
}

// TestClusterNotReady starts one node of a three-node cluster alone: no
// majority, no leader, so Open must give up after ReadyTimeout with
// ErrNotReady rather than hang or half-start.
func TestClusterNotReady(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a ReadyTimeout")
	}
	opts := events.Options{
		StoreDir:      t.TempDir(),
		ServerName:    "alone",
		ClusterListen: freeAddr(t),
		Cluster:       []string{"nats://127.0.0.1:2", "nats://127.0.0.1:3"}, // nobody listens there
		ReadyTimeout:  2 * time.Second,
	}
	srv, err := events.Open(context.Background(), opts)
	if err == nil {
		_ = srv.Close(context.Background())
		t.Fatal("Open succeeded without a majority")
	}
	if !errors.Is(err, events.ErrNotReady) {
		t.Errorf("Open = %v, want ErrNotReady", err)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestClusterRouteToken has node b dial node a, which requires its
// cluster_token from routes (a does not dial b: its own route points where
// nobody listens). With the same token they join and answer; with another
// or none, a refuses the route, neither has a majority, and both give up
// with ErrNotReady.
func TestClusterRouteToken(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for elections")
	}
	tests := []struct {
		name   string
		tokenB string
		joined bool
	}{
		{"same token", "s3cret", true},
		{"other token", "guess", false},
		{"no token", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // the refused ones wait out their ReadyTimeout
			addrA, addrB, nobody := freeAddr(t), freeAddr(t), freeAddr(t)
			node := func(name, listen, peer, token string) events.Options {
				return events.Options{
					StoreDir: t.TempDir(), ServerName: name,
					Cluster: []string{"nats://" + peer}, ClusterListen: listen, ClusterToken: token,
					// Long enough for the routes and an election (10 s
					// seen), so a refusal is the token's doing, not a slow
					// election's.
					ReadyTimeout: 30 * time.Second,
				}
			}
			opts := []events.Options{node("a", addrA, nobody, "s3cret"), node("b", addrB, addrA, tc.tokenB)}
			var wg sync.WaitGroup
			srvs := make([]*events.Server, len(opts))
			errs := make([]error, len(opts))
			for i, o := range opts {
				wg.Go(func() { srvs[i], errs[i] = events.Open(context.Background(), o) })
			}
			wg.Wait()
			for i, srv := range srvs {
				if srv != nil {
					t.Cleanup(func() { _ = srv.Close(context.Background()) })
				}
				switch {
				case tc.joined && errs[i] != nil:
					t.Errorf("node %s: Open = %v, want joined", opts[i].ServerName, errs[i])
				case !tc.joined && !errors.Is(errs[i], events.ErrNotReady):
					t.Errorf("node %s: Open = %v, want ErrNotReady", opts[i].ServerName, errs[i])
				}
			}
			if !tc.joined || t.Failed() {
				return
			}
			// Joined: a stream created through a is seen through b.
			ctx := context.Background()
			if _, err := srvs[0].JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := srvs[1].JetStream().Stream(ctx, "S"); err != nil {
				t.Errorf("stream created on a, read on b: %v", err)
			}
		})
	}
}

// BenchmarkPublishReplicas measures one publish, stored and acknowledged:
// on a single embedded server through the in-process connection, and
// through node 1 of a three-node cluster of child processes (a TCP loopback
// connection) to a stream of 1 copy and of 3 (the leader waits for a second
// node to store it). All fsync on JetStream's interval, as natstest's nodes
// do.
func BenchmarkPublishReplicas(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, srv *events.Server, replicas int) {
		stream, subject := "BENCH_R"+strconv.Itoa(replicas), "bench.r"+strconv.Itoa(replicas)
		if _, err := srv.JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject},
			Storage: jetstream.FileStorage, Replicas: replicas}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if err := srv.PublishEvent(ctx, subject, &events.Event{ID: strconv.Itoa(i), Type: "t", Data: []byte(`{"n":1}`)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("alone/replicas=1", func(b *testing.B) {
		srv, err := events.Open(ctx, events.Options{StoreDir: b.TempDir(), Sync: events.SyncInterval})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = srv.Close(context.Background()) })
		run(b, srv, 1)
	})
	b.Run("cluster", func(b *testing.B) {
		c := natstest.StartCluster(b, 3)
		srv, err := events.NewWithConn(ctx, c.Nodes[0].Connect(b), events.Options{Replicas: 3})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = srv.Close(context.Background()) })
		for _, r := range []int{1, 3} {
			b.Run("replicas="+strconv.Itoa(r), func(b *testing.B) { run(b, srv, r) })
		}
	})
}
