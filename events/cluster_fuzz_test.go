package events

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzValidRoute checks what ValidRoute lets through to nats-server: a
// nats:// URL with a host and a port from 1 to 65535 and nothing else, and
// that a refusal never quotes a password.
func FuzzValidRoute(f *testing.F) {
	for _, s := range []string{
		"nats://b:6222", "nats://127.0.0.1:6222", "nats://[::1]:6222", "nats://b", "nats://b:0",
		"tls://b:6222", "nats://u:SECRET@b:6222", "nats://b:6222/x", "nats://b:6222?q", "nats:b:6222", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidRoute(s)
		if err != nil {
			if u, perr := url.Parse(s); perr == nil && u.User != nil {
				if p, ok := u.User.Password(); ok && len(p) > 3 && strings.Contains(err.Error(), p) {
					t.Fatalf("ValidRoute(%q) = %v: quotes the password", s, err)
				}
			}
			return
		}
		u, perr := url.Parse(s)
		if perr != nil {
			t.Fatalf("accepted %q, which does not parse: %v", s, perr)
		}
		if u.Scheme != "nats" || u.User != nil || u.Hostname() == "" || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("accepted %q: %+v", s, u)
		}
		if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
			t.Fatalf("accepted %q with port %q", s, u.Port())
		}
		// The route nats-server is given is the same, with the token added.
		_, routes := clusterOpts(Options{Cluster: []string{s}, ClusterListen: "127.0.0.1:6222", ClusterToken: "t"})
		if routes[0].Host != u.Host || routes[0].User.Username() != routeUser {
			t.Fatalf("route %q became %v", s, routes[0])
		}
	})
}
