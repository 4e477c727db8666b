package fleet_test

import (
	"errors"
	"regexp"
	"testing"

	"github.com/edged/edged/fleet"
)

// validKey is what a NATS KV key may be (jetstream's own rule), for a key of
// one token after the prefix.
var validKey = regexp.MustCompile(`^route\.[-_=a-zA-Z0-9]+$`)

func TestRouteKey(t *testing.T) {
	tests := []struct{ name, key string }{
		{"users", "route.users"},
		{"orders.v2", "route.orders=2Ev2"},
		{"a=b", "route.a=3Db"},
		{".lead", "route.=2Elead"},
		{"x..y", "route.x=2E=2Ey"},
		{"Mixed_Case-1", "route.Mixed_Case-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fleet.RouteKey(tc.name); got != tc.key {
				t.Errorf("RouteKey(%q) = %q, want %q", tc.name, got, tc.key)
			}
			if got, err := fleet.RouteName(tc.key); err != nil || got != tc.name {
				t.Errorf("RouteName(%q) = %q, %v", tc.key, got, err)
			}
		})
	}
	for _, bad := range []string{"users", "route.", "meta.import", "route.a=2e", "route.a=41", "route.a=4", "route.a.b", "route.a*"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			if _, err := fleet.RouteName(bad); !errors.Is(err, fleet.ErrNotRouteKey) {
				t.Errorf("RouteName(%q) = %v, want ErrNotRouteKey", bad, err)
			}
		})
	}
}

func FuzzRouteKey(f *testing.F) {
	for _, s := range []string{"users", "orders.v2", "a=b", "..", "\x00\xff", "route.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" {
			return
		}
		key := fleet.RouteKey(name)
		if !validKey.MatchString(key) {
			t.Fatalf("RouteKey(%q) = %q is not a valid one-token key", name, key)
		}
		back, err := fleet.RouteName(key)
		if err != nil || back != name {
			t.Fatalf("RouteName(RouteKey(%q)) = %q, %v", name, back, err)
		}
	})
}

func FuzzRouteName(f *testing.F) {
	for _, s := range []string{"route.users", "route.a=2Eb", "route.=", "route.a=zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		name, err := fleet.RouteName(key)
		if err != nil {
			return
		}
		if fleet.RouteKey(name) != key {
			t.Fatalf("RouteName(%q) = %q, whose key is %q: two keys for one name", key, name, fleet.RouteKey(name))
		}
	})
}
