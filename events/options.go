package events

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/edged/edged/trace"
)

// This file and the other files without NATS (the trigger, subject and
// schedule rules) are all of the package in a build with -tags noevents,
// so that internal/config validates the same keys without linking NATS.

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
	// heldBytes replaces maxHeldBytes when set: tests make pulls stop at
	// their byte limit.
	heldBytes int
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
