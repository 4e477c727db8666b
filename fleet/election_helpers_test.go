package fleet

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// waitLimit bounds every wait in these tests; nothing legitimate takes it.
const waitLimit = 20 * time.Second

// startNATS starts an embedded NATS server with JetStream listening on a
// loopback port, as edged's [events] does, and returns its client URL.
func startNATS(t testing.TB) string {
	t.Helper()
	s, err := events.Open(context.Background(), events.Options{
		StoreDir: t.TempDir(),
		Listen:   "127.0.0.1:0",
		Sync:     events.SyncInterval, // nothing here needs to survive power loss
	})
	if err != nil {
		t.Fatalf("events.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s.ClientURL()
}

// connect opens a client connection of its own, as one fleet node has.
func connect(t testing.TB, url, name string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name(name))
	if err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// wait blocks until ch is closed or fails the test after waitLimit.
func wait(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("no %s within %v", what, waitLimit)
	}
}

// testLogger writes to the test's log at debug level.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// partitionProxy forwards one TCP connection to a NATS server and can cut it
// without closing it, as a network partition does: bytes wait, nothing fails.
type partitionProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	open   *sync.Cond
	closed bool
	cut    bool
}

func newPartitionProxy(t testing.TB, target string) *partitionProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &partitionProxy{ln: ln}
	p.open = sync.NewCond(&p.mu)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		p.mu.Lock()
		p.closed = true
		p.open.Broadcast()
		p.mu.Unlock()
		_ = ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				return
			}
			wg.Add(2)
			go func() { defer wg.Done(); p.pipe(out, in) }()
			go func() { defer wg.Done(); p.pipe(in, out) }()
		}
	}()
	return p
}

// pipe copies src to dst, holding each chunk while the link is cut.
func (p *partitionProxy) pipe(dst, src net.Conn) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		for p.cut && !p.closed {
			p.open.Wait()
		}
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (p *partitionProxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *partitionProxy) setCut(cut bool) {
	p.mu.Lock()
	p.cut = cut
	p.open.Broadcast()
	p.mu.Unlock()
}
