package kvstore

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startNATS runs a real nats-server with JetStream on a loopback port, its
// store in a temporary directory, stopped when the test ends. maxPayload 0
// keeps the server's default (1 MB).
func startNATS(t testing.TB, maxPayload int32) *server.Server {
	t.Helper()
	return startNATSWith(t, func(o *server.Options) { o.MaxPayload = maxPayload })
}

// startNATSWith is startNATS with the options adjusted by set.
func startNATSWith(t testing.TB, set func(*server.Options)) *server.Server {
	t.Helper()
	so := &server.Options{
		ServerName: "kvstore-test",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoSigs:     true,
		NoLog:      true,
	}
	set(so)
	ns, err := server.NewServer(so)
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// node is one edged's connection to the fleet's NATS: its own TCP
// connection, as a separate process would have.
type node struct {
	nc *nats.Conn
	js jetstream.JetStream
	// reconnected receives once the connection is back after losing its
	// server (connectAll only).
	reconnected chan struct{}
}

func connect(t testing.TB, ns *server.Server) node {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return node{nc: nc, js: js}
}

// bucketSeq makes bucket names unique within the test binary, so subtests
// sharing a server do not share keys.
var bucketSeq atomic.Int64

func uniqueBucket() string { return "idem_test_" + strconv.FormatInt(bucketSeq.Add(1), 10) }

// openStore opens a Store named name on n (Bucket set by the caller).
func openStore(t testing.TB, n node, o Options) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := New(ctx, n.js, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// waitGone blocks until key's record in s's bucket is removed (purged,
// deleted or expired by its TTL), or fails the test after limit. It watches
// the key, so it returns as soon as the server acts.
func waitGone(t testing.TB, s *Store, key []byte, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	w, err := s.kv.Watch(ctx, bucketKey(key))
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer func() { _ = w.Stop() }()
	present := false
	for {
		select {
		case e := <-w.Updates():
			switch {
			case e == nil && !present: // no record at all
				return
			case e == nil:
			case e.Operation() != jetstream.KeyValuePut:
				return
			default:
				present = true
			}
		case <-ctx.Done():
			t.Fatalf("key %q still in the bucket after %v", key, limit)
		}
	}
}
