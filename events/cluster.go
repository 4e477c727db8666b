package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bounds of the cluster options.
const (
	// maxRoutes bounds Options.Cluster: a cluster of embedded servers is a
	// few nodes; a large fleet points at an external cluster (URL).
	maxRoutes = 32
	// maxServerName bounds Options.ServerName (a hostname is at most 253).
	maxServerName = 253
	// routeUser is the user name routes present with ClusterToken as the
	// password: nats-server authenticates routes by user and password.
	routeUser = "edged"
	// readyAttempt bounds one attempt of whenReady, so a request that hangs
	// on a cluster without a leader leaves time for the next.
	readyAttempt = 5 * time.Second
	// readyBackoff is the first pause between attempts; it doubles up to
	// readyMaxBackoff.
	readyBackoff    = 50 * time.Millisecond
	readyMaxBackoff = time.Second
)

// ClusterMembers returns how many nodes Options.Cluster makes: the distinct
// routes plus this node (a route equal to ClusterListen is this node). It is
// 1 without Cluster.
func (o Options) ClusterMembers() int {
	seen := map[string]bool{}
	for _, r := range o.Cluster {
		u, err := url.Parse(r)
		if err != nil || u.Host == o.ClusterListen {
			continue
		}
		seen[u.Host] = true
	}
	return len(seen) + 1
}

// DefaultReplicas returns the Replicas these options default to: 3 when
// Cluster makes 3 or more members, else 1.
func (o Options) DefaultReplicas() int {
	if o.URL == "" && len(o.Cluster) > 0 && o.ClusterMembers() >= clusterReplicas {
		return clusterReplicas
	}
	return 1
}

// validateCluster checks the cluster fields and Replicas. embedded is false
// for NewWithConn, where only Replicas applies.
func (o Options) validateCluster(embedded bool) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("events."+key+": "+format, args...))
	}
	if o.Replicas < 0 || o.Replicas > MaxReplicas {
		bad("replicas", "%d is not from 1 to %d", o.Replicas, MaxReplicas)
	}
	if !embedded {
		return errs
	}
	clustered := len(o.Cluster) > 0
	switch {
	case clustered && o.URL != "":
		bad("cluster", "only for the embedded server: remove it or events.url")
	case clustered && o.ClusterListen == "":
		bad("cluster_listen", "required with events.cluster (where this node accepts routes)")
	case !clustered && o.ClusterListen != "":
		bad("cluster_listen", "only with events.cluster")
	case !clustered && o.ClusterToken != "":
		bad("cluster_token", "only with events.cluster")
	}
	if len(o.Cluster) > maxRoutes {
		bad("cluster", "%d routes; at most %d (a larger fleet points events.url at a NATS cluster)", len(o.Cluster), maxRoutes)
	}
	for i, r := range o.Cluster {
		if err := ValidRoute(r); err != nil {
			bad("cluster["+strconv.Itoa(i)+"]", "%w", err)
		}
	}
	if o.ClusterListen != "" {
		host, port, err := net.SplitHostPort(o.ClusterListen)
		if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || n == 0 {
			bad("cluster_listen", "%q is not host:port with a port from 1 to 65535 (the other nodes dial it)", o.ClusterListen)
		} else if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && o.ClusterToken == "" {
			bad("cluster_listen", "%q is not loopback: set events.cluster_token", o.ClusterListen)
		}
	}
	if o.ClusterName != "" && !validName(o.ClusterName) {
		bad("cluster_name", "%q: 1-64 letters, digits, '-' and '_'", o.ClusterName)
	}
	if o.ServerName != "" && !validServerName(o.ServerName) {
		bad("server_name", "%q: 1-%d printable characters without spaces", o.ServerName, maxServerName)
	}
	switch members := o.ClusterMembers(); {
	case o.Replicas > 1 && !clustered && o.URL == "":
		bad("replicas", "%d copies need a cluster: set events.cluster (or events.url)", o.Replicas)
	case clustered && o.Replicas > members:
		bad("replicas", "%d copies but events.cluster makes %d members (its routes and this node)", o.Replicas, members)
	}
	return errs
}

// ValidRoute checks one route of Options.Cluster: nats://host:port, without
// user info (the token is Options.ClusterToken), path or query.
func ValidRoute(r string) error {
	u, err := url.Parse(r)
	switch {
	case err != nil:
		return errors.New("not a URL (want nats://host:port)")
	case u.User != nil: // first: the messages below quote the route
		return errors.New("user info is not allowed (set events.cluster_token)")
	case u.Scheme != "nats":
		return fmt.Errorf("%q: scheme must be nats", r)
	case u.Opaque != "" || u.Hostname() == "":
		return fmt.Errorf("%q: missing host", r)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Errorf("%q: path, query and fragment are not allowed", r)
	}
	if n, err := strconv.ParseUint(u.Port(), 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q: port must be a number from 1 to 65535", r)
	}
	return nil
}

func validServerName(s string) bool {
	if s == "" || len(s) > maxServerName {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// defaultServerName is the hostname, or DefaultClusterName when it is not
// usable as a server name.
func defaultServerName() string {
	if h, err := os.Hostname(); err == nil && validServerName(h) {
		return h
	}
	return DefaultClusterName
}

// clusterOpts returns the embedded server's cluster options and routes; the
// fields were checked by Validate. Routes carry ClusterToken as their
// password, the same on every node.
func clusterOpts(o Options) (server.ClusterOpts, []*url.URL) {
	host, port, _ := net.SplitHostPort(o.ClusterListen)
	c := server.ClusterOpts{Name: o.ClusterName, Host: host}
	c.Port, _ = strconv.Atoi(port)
	if o.ClusterToken != "" {
		c.Username, c.Password = routeUser, o.ClusterToken
	}
	routes := make([]*url.URL, 0, len(o.Cluster))
	for _, r := range o.Cluster {
		u, _ := url.Parse(r)
		if o.ClusterToken != "" {
			u.User = url.UserPassword(routeUser, o.ClusterToken)
		}
		routes = append(routes, u)
	}
	return c, routes
}

// ErrNotReady is returned (wrapped) by Open, NewWithConn and Subscribe when
// JetStream did not become ready within Options.ReadyTimeout.
var ErrNotReady = errors.New("events: JetStream not ready")

// whenReady runs op until it succeeds, fails for a reason other than a
// JetStream that is not ready yet, or Options.ReadyTimeout (or ctx) ends.
// Each attempt is bounded by readyAttempt. A single embedded server is ready
// once started: op runs once, so a full disk fails at once rather than after
// the timeout.
func (s *Server) whenReady(ctx context.Context, op func(context.Context) error) error {
	if s.standalone {
		return op(ctx)
	}
	timeout := s.opts.ReadyTimeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pause := readyBackoff
	for {
		actx, acancel := context.WithTimeout(ctx, readyAttempt)
		err := op(actx)
		acancel()
		if err == nil {
			return nil
		}
		if !notReady(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w after %s (a cluster needs a majority of its nodes up to elect a leader, and as many nodes as events.replicas to place a copy on each): %w",
				ErrNotReady, timeout, err)
		case <-time.After(pause):
		}
		pause = min(2*pause, readyMaxBackoff)
	}
}

// notReady reports whether err comes from a JetStream that is not ready
// yet: no answer (no meta leader, a leader being elected), or a cluster
// with too few peers for the replicas asked for.
func notReady(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) {
		return true
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case jetstream.JSErrCodeJetStreamNotEnabled, // no responders: the API is not up
		10004, // JSClusterIncompleteErr: incomplete results
		10005, // JSClusterNoPeersErrF: no suitable peers for placement
		10008, // JSClusterNotAvailErr: JetStream system temporarily unavailable
		10009, // JSClusterNotLeaderErr: JetStream cluster can not handle request
		10023: // JSInsufficientResourcesErr: too few peers (yet) for the replicas
		return true
	}
	return false
}

// randomToken returns 128 random bits in hex: the token of a client port
// that only the in-process connection uses.
func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
