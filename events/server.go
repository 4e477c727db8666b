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

	"github.com/edged/edged/trace"
)

// Defaults of Options, defined once.
const (
	DefaultStoreDir      = ".edged/events"
	DefaultSource        = "edged"
	DefaultCompletionTTL = 24 * time.Hour
	// DefaultClusterName is Options.ClusterName's default.
	DefaultClusterName = "edged"
	// DefaultReadyTimeout is Options.ReadyTimeout's default.
	DefaultReadyTimeout = time.Minute
	// MaxReplicas bounds Options.Replicas: JetStream keeps at most 5 copies.
	MaxReplicas = 5
	// clusterReplicas is the default Replicas of a cluster of 3 or more
	// members: a copy survives the loss of any one node, and a majority (2)
	// keeps writing.
	clusterReplicas = 3
	// startTimeout bounds how long Open waits for the embedded server.
	startTimeout = 10 * time.Second
	// publishTimeout bounds waiting for JetStream to store an async publish.
	publishTimeout = 30 * time.Second
)

// Sync modes of the embedded server's file store.
const (
	// SyncAlways fsyncs every write before JetStream acknowledges it: an
	// acknowledged event survives power loss. The default.
	SyncAlways = "always"
	// SyncInterval lets JetStream fsync on its own interval (2 minutes):
	// faster, but acknowledged events written since the last fsync are lost
	// on power loss (not on a process crash).
	SyncInterval = "interval"
)

// Options configures Open: the `[events]` table. The zero value starts an
// embedded server storing under .edged/events with every write fsynced and no
// port opened.
type Options struct {
	// URL of an external NATS server or cluster ("nats://host:4222"); empty
	// starts the embedded server.
	URL string
	// StoreDir holds the embedded server's JetStream files; default
	// ".edged/events". Ignored with URL.
	StoreDir string
	// Sync is SyncAlways (default) or SyncInterval. Ignored with URL.
	Sync string
	// MaxStore bounds the embedded server's disk use in bytes; 0 means no
	// bound beyond the disk. When full, publishes fail (events are refused,
	// never dropped). Ignored with URL.
	MaxStore int64
	// Listen, when set ("127.0.0.1:4222"; port 0 picks a free one), exposes
	// the embedded server to other nodes and the `nats` CLI; empty opens no
	// port at all.
	Listen string
	// Token, when set, is required from clients connecting to Listen (and
	// sent to URL). A Listen address that is not loopback requires it.
	Token string
	// Cluster lists the routes to the other nodes' embedded servers
	// ("nats://peer:6222"): the embedded servers form one NATS cluster and
	// JetStream replicates across them, so a few nodes need no separate NATS
	// process. Listing this node itself too is allowed (a route equal to
	// ClusterListen). Requires ClusterListen; not with URL.
	Cluster []string
	// ClusterListen is where this node accepts routes from the others
	// ("0.0.0.0:6222"); required with Cluster. A host that is not loopback
	// requires ClusterToken.
	ClusterListen string
	// ClusterName names the cluster, the same on every node; default
	// "edged".
	ClusterName string
	// ClusterToken authenticates routes, the same on every node: a route
	// presenting another is refused. Required when ClusterListen is not
	// loopback.
	ClusterToken string
	// ServerName names this node's server, unique in the cluster and stable
	// across restarts (JetStream knows its peers by name); default the
	// hostname. The daemon passes the `[fleet] node` name.
	ServerName string
	// Replicas is how many copies JetStream keeps of each stream and bucket
	// edged creates (trigger streams, dead letters, the buckets); default 1,
	// or 3 with a Cluster of 3 or more members (the routes plus this node).
	// At most MaxReplicas, and at most the cluster's members. Streams that
	// already exist are adopted as they are.
	Replicas int
	// ReadyTimeout bounds how long Open waits for JetStream to be ready: a
	// cluster answers only once a majority of its nodes is up and has
	// elected a leader. Default DefaultReadyTimeout (1 minute).
	ReadyTimeout time.Duration
	// Source is the CloudEvents `source` of events published by Publish and
	// of schedule ticks; default "edged".
	Source string
	// CompletionTTL is how long the record of a finished event is kept, so a
	// redelivery of an event whose ack was lost is skipped; default 24h.
	CompletionTTL time.Duration
	// Logger receives errors of background work; nil discards.
	Logger *slog.Logger
	// Observer is told about every trigger's deliveries, for metrics; nil
	// tells nobody.
	Observer Observer
	// Exporter, when not nil, receives a span "edged.event" for each
	// invocation of an event whose traceparent is sampled: the consumer side
	// of the publisher's trace, a child of the publisher's span. The function
	// is then given a traceparent naming that span.
	Exporter trace.Exporter
	// Now is the clock of schedules; nil means time.Now. For tests.
	Now func() time.Time

	// after waits on the schedule clock; nil means time.After. Tests replace
	// it together with Now.
	after func(time.Duration) <-chan time.Time
	// dropAck, when it returns true, skips the ack after a completed
	// invocation: tests simulate an ack lost in a crash.
	dropAck func() bool
}

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

// Validate reports every invalid field at once.
func (o Options) Validate() error { return o.validate(true) }

// validate checks o; embedded is false for NewWithConn, which ignores the
// fields of the embedded server.
func (o Options) validate(embedded bool) error {
	var errs []error
	switch o.Sync {
	case "", SyncAlways, SyncInterval:
	default:
		errs = append(errs, fmt.Errorf("events.sync: %q is not %q or %q", o.Sync, SyncAlways, SyncInterval))
	}
	if o.MaxStore < 0 {
		errs = append(errs, errors.New("events.max_store: must be >= 0"))
	}
	if o.CompletionTTL < 0 {
		errs = append(errs, errors.New("events.completion_ttl: must be >= 0"))
	}
	if o.Listen != "" {
		host, port, err := net.SplitHostPort(o.Listen)
		if err != nil {
			errs = append(errs, fmt.Errorf("events.listen: %w", err))
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			errs = append(errs, fmt.Errorf("events.listen: port %q", port))
		} else if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && o.Token == "" {
			errs = append(errs, fmt.Errorf("events.listen: %q is not loopback: set events.token", o.Listen))
		}
	}
	if o.ReadyTimeout < 0 {
		errs = append(errs, errors.New("events.ready_timeout: must be >= 0"))
	}
	errs = append(errs, o.validateCluster(embedded)...)
	return errors.Join(errs...)
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
	ticks    jetstream.KeyValue // last fired tick per schedule
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
	// acker never waits forever on a lost reply.
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
