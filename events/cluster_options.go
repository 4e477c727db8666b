package events

// The cluster options and their checks, without NATS: internal/config validates
// them in a build with -tags noevents too.

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"
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
