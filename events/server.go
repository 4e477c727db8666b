//go:build !noevents

package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Timeouts of the engine.
const (
	// startTimeout bounds how long Open waits for the embedded server.
	startTimeout = 10 * time.Second
	// publishTimeout bounds waiting for JetStream to store an async publish.
	publishTimeout = 30 * time.Second
)

func (o Options) withDefaults() Options {
	if o.StoreDir == "" {
		o.StoreDir = DefaultStoreDir
	}
	if o.Sync == "" {
		o.Sync = SyncAlways
	}
	if o.Source == "" {
		o.Source = DefaultSource
	}
	if o.ClusterName == "" {
		o.ClusterName = DefaultClusterName
	}
	if o.ServerName == "" {
		o.ServerName = defaultServerName()
	}
	if o.Replicas == 0 {
		o.Replicas = o.DefaultReplicas()
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.CompletionTTL == 0 {
		o.CompletionTTL = DefaultCompletionTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.after == nil {
		o.after = time.After
	}
	return o
}

// Server is a connection to JetStream, embedded or external, with the
// buckets edged keeps there. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	embedded *server.Server // nil with URL or NewWithConn
	nc       *nats.Conn
	ownConn  bool
	js       jetstream.JetStream
	done     jetstream.KeyValue // completion and status records
	// batchRecords: the records bucket's stream takes fast batches
	// (outbox.go); false with a server too old for them. Set by Open.
	batchRecords bool
	ticks        jetstream.KeyValue // last fired tick per schedule
	// standalone: an embedded server without a cluster, ready once
	// started (whenReady does not wait).
	standalone bool

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// Open starts the embedded server (or connects to Options.URL) and prepares
// the buckets. Close releases everything; a failed Open leaves nothing
// running.
func Open(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	var (
		ns  *server.Server
		nc  *nats.Conn
		err error
	)
	connOpts := []nats.Option{nats.Name("edged"), nats.MaxReconnects(-1)}
	if opts.URL == "" && len(opts.Cluster) > 0 && opts.Listen == "" {
		// The client port a cluster needs (startEmbedded) is for the
		// in-process connection only: a random token nobody else is told.
		if opts.Token, err = randomToken(); err != nil {
			return nil, fmt.Errorf("events: embedded server: %w", err)
		}
	}
	if opts.Token != "" {
		connOpts = append(connOpts, nats.Token(opts.Token))
	}
	if opts.URL == "" {
		if ns, err = startEmbedded(opts); err != nil {
			return nil, err
		}
		// The in-process connection stays with this process's server: the
		// client ports a cluster gossips are the other nodes'.
		connOpts = append(connOpts, nats.InProcessServer(ns), nats.IgnoreDiscoveredServers())
	}
	if nc, err = nats.Connect(opts.URL, connOpts...); err != nil {
		if ns != nil {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
		return nil, fmt.Errorf("events: connect: %w", err)
	}
	s, err := newServer(ctx, nc, opts, opts.URL == "" && len(opts.Cluster) == 0)
	if err != nil {
		nc.Close()
		if ns != nil {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
		return nil, err
	}
	s.embedded, s.ownConn = ns, true
	return s, nil
}

// NewWithConn uses the caller's connection (embedding edged as a library).
// Close stops edged's subscriptions but leaves nc open. opts.URL, StoreDir,
// Sync, MaxStore, Listen, Token and the Cluster fields are ignored; Replicas
// applies (default 1).
func NewWithConn(ctx context.Context, nc *nats.Conn, opts Options) (*Server, error) {
	if err := opts.validate(false); err != nil {
		return nil, err
	}
	return newServer(ctx, nc, opts.withDefaults(), false)
}

// newServer prepares the buckets on nc; standalone is true for an embedded
// server without a cluster, which has nothing to wait for.
func newServer(ctx context.Context, nc *nats.Conn, opts Options, standalone bool) (*Server, error) {
	// The timeout resolves every async publish (completion records), so the
	// outbox never waits forever on a lost reply.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(publishTimeout))
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	s := &Server{opts: opts, nc: nc, js: js, standalone: standalone, subs: map[*Subscription]struct{}{}}
	// A cluster answers JetStream requests only once it has a meta leader,
	// and creates a replicated bucket only once enough peers have joined:
	// the buckets are the first requests, so they are retried until ready.
	if err := s.whenReady(ctx, s.ensureBuckets); err != nil {
		return nil, err
	}
	return s, nil
}

// ensureBuckets creates or updates the buckets edged keeps, with the
// configured replicas.
func (s *Server) ensureBuckets(ctx context.Context) error {
	var err error
	if s.done, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      doneBucket,
		Description: "edged: finished events per trigger (completion and status)",
		TTL:         s.opts.CompletionTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    s.opts.Replicas,
	}); err != nil {
		return fmt.Errorf("events: bucket %s: %w", doneBucket, err)
	}
	s.batchRecords = s.allowBatches(ctx, "KV_"+doneBucket)
	if s.ticks, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      ticksBucket,
		Description: "edged: last fired tick per schedule trigger",
		Storage:     jetstream.FileStorage,
		Replicas:    s.opts.Replicas,
	}); err != nil {
		return fmt.Errorf("events: bucket %s: %w", ticksBucket, err)
	}
	return nil
}

// allowBatches lets stream take fast batch publishes (nats-server 2.14 and
// later), and says whether it does: a KV bucket's config has no such
// setting, and every CreateOrUpdateKeyValue turns it off again. A server
// that does not know the setting leaves it out of the config it returns;
// records are then stored one publish at a time.
func (s *Server) allowBatches(ctx context.Context, stream string) bool {
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		s.opts.Logger.Warn("events: fast batches", "stream", stream, "error", err)
		return false
	}
	cfg := st.CachedInfo().Config
	if cfg.AllowBatchPublish {
		return true
	}
	cfg.AllowBatchPublish = true
	st, err = s.js.UpdateStream(ctx, cfg)
	if err != nil {
		s.opts.Logger.Warn("events: fast batches", "stream", stream, "error", err)
		return false
	}
	return st.CachedInfo().Config.AllowBatchPublish
}

// Bucket names; KV buckets are streams named KV_<bucket>.
const (
	doneBucket  = "edged_events"
	ticksBucket = "edged_ticks"
)

func startEmbedded(opts Options) (*server.Server, error) {
	dir, err := filepath.Abs(opts.StoreDir)
	if err != nil {
		return nil, fmt.Errorf("events.store_dir: %w", err)
	}
	so := &server.Options{
		ServerName:        opts.ServerName,
		JetStream:         true,
		StoreDir:          dir,
		JetStreamMaxStore: opts.MaxStore,
		SyncAlways:        opts.Sync == SyncAlways,
		NoSigs:            true,
		NoLog:             true,
		DontListen:        opts.Listen == "",
	}
	if opts.MaxStore == 0 {
		so.JetStreamMaxStore = -1
	}
	if opts.Listen != "" {
		host, port, _ := net.SplitHostPort(opts.Listen) // checked by Validate
		so.Host = host
		so.Port, _ = strconv.Atoi(port)
		if so.Port == 0 {
			so.Port = server.RANDOM_PORT // ":0" means any free port, as with net.Listen
		}
		so.Authorization = opts.Token
	}
	if len(opts.Cluster) > 0 {
		so.Cluster, so.Routes = clusterOpts(opts) // checked by Validate
		if opts.Listen == "" {
			// nats-server starts its routes only once its client port
			// listens (with DontListen they never start): open one on
			// loopback, any port, behind a token only Open knows.
			so.DontListen, so.Host, so.Port = false, "127.0.0.1", server.RANDOM_PORT
			so.Authorization = opts.Token
		}
	}
	ns, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("events: embedded server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(startTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("events: embedded server not ready after %s", startTimeout)
	}
	return ns, nil
}

// JetStream returns the client handle, for callers that need more than this
// package offers (the `edged events` listing of streams and consumers).
func (s *Server) JetStream() jetstream.JetStream { return s.js }

// Replicas is how many copies JetStream keeps of each stream and bucket this
// server's users create (Options.Replicas after defaults), so that what the
// fleet stores survives the loss of as many servers as the events do.
func (s *Server) Replicas() int { return s.opts.Replicas }

// ClientURL returns the address other processes can connect to: the Listen
// address of the embedded server, Options.URL, or "" when the embedded
// server opens no port.
func (s *Server) ClientURL() string {
	if s.embedded != nil {
		if s.opts.Listen == "" {
			return ""
		}
		return s.embedded.ClientURL()
	}
	return s.opts.URL
}

// Close stops every subscription (waiting for running handlers until ctx
// ends, then cancelling them), drains the connection it opened and shuts the
// embedded server down. It is safe to call twice; the second call returns
// the first result.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		subs := make([]*Subscription, 0, len(s.subs))
		for sub := range s.subs {
			subs = append(subs, sub)
		}
		s.mu.Unlock()
		var errs []error
		for _, sub := range subs {
			errs = append(errs, sub.Close(ctx))
		}
		if s.ownConn {
			s.nc.Close()
		}
		if s.embedded != nil {
			s.embedded.Shutdown()
			s.embedded.WaitForShutdown()
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Server) track(sub *Subscription) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.subs[sub] = struct{}{}
	return nil
}

func (s *Server) untrack(sub *Subscription) {
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
}

// ErrClosed is returned by Subscribe after Close.
var ErrClosed = errors.New("events: server closed")
