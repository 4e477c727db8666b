//go:build !noevents

package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

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

// WhenReady runs op as the server creates its own streams and buckets: in a
// cluster, again until it succeeds, fails for a reason other than a
// JetStream not ready yet (no meta leader, too few peers known for the
// replicas), or Options.ReadyTimeout (or ctx) ends; on a single server,
// once. Users creating buckets of their own with Replicas() call it, since
// a cluster that just formed refuses or times out such requests for a
// while.
func (s *Server) WhenReady(ctx context.Context, op func(context.Context) error) error {
	return s.whenReady(ctx, op)
}

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
