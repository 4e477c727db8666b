package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/router"
)

func TestReadSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tok")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDGED_TEST_SECRET_SET", "from-env")
	secrets := map[string]config.Secret{
		"env":         {Env: "EDGED_TEST_SECRET_SET"},
		"file":        {File: file},
		"unset":       {Env: "EDGED_TEST_SECRET_UNSET_XYZ"},
		"nofile":      {File: filepath.Join(dir, "missing")},
		"not_granted": {Env: "EDGED_TEST_SECRET_UNSET_XYZ"},
	}
	tests := []struct {
		name    string
		granted []string
		lenient bool
		want    map[string]string
		wantErr bool
	}{
		{"env and file", []string{"env", "file"}, false, map[string]string{"env": "from-env", "file": "from-file"}, false},
		{"unset env strict", []string{"env", "unset"}, false, nil, true},
		{"missing file strict", []string{"nofile"}, false, nil, true},
		{"lenient leaves out", []string{"env", "unset", "nofile"}, true, map[string]string{"env": "from-env"}, false},
		{"ungranted not read", nil, false, map[string]string{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{Secrets: secrets, Functions: map[string]config.Function{"f": {Secrets: tc.granted}}}
			got, err := readSecrets(cfg, tc.lenient, slog.New(slog.DiscardHandler))
			if (err != nil) != tc.wantErr {
				t.Fatalf("readSecrets(%v) error = %v, want error %v", tc.granted, err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, errSecretMissing) {
					t.Errorf("readSecrets(%v) error = %v, want errSecretMissing", tc.granted, err)
				}
				return
			}
			gotS := make(map[string]string, len(got))
			for k, v := range got {
				gotS[k] = string(v)
			}
			if !maps.Equal(gotS, tc.want) {
				t.Errorf("readSecrets(%v) = %v, want %v", tc.granted, gotS, tc.want)
			}
		})
	}
}

func TestFunctionOptionsGrantsOnlyListedSecrets(t *testing.T) {
	all := map[string][]byte{"a": []byte("1"), "b": []byte("2")}
	_, opts, err := functionOptions("f", config.Function{Module: "x.wasm", Secrets: []string{"b", "gone"}}, all, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(opts.Secrets)); !slices.Equal(got, []string{"b"}) {
		t.Errorf("functionOptions secrets = %v, want [b]", got)
	}
	if opts.Name != "f" || opts.Policy.Timeout == 0 {
		t.Errorf("functionOptions = %+v, want name f and a defaulted policy", opts)
	}
}

func TestRouteOptions(t *testing.T) {
	off := false
	tests := []struct {
		name string
		r    config.Route
		want string
	}{
		{"default fallback", config.Route{}, "true [] [] 0 0"},
		{"fallback off", config.Route{Fallback: &off}, "false [] [] 0 0"},
		{"shadow", config.Route{Shadow: &config.Shadow{CompareHeaders: []string{"Content-Type"}, Ignore: []string{"$.a"},
			MaxConcurrent: 4, MaxBody: 1024}}, "true [Content-Type] [$.a] 4 1024"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := routeOptions(tc.r, previous{}, nil, nil)
			if err != nil {
				t.Fatalf("routeOptions(%s): %v", tc.name, err)
			}
			got := fmt.Sprint(o.Fallback, o.CompareHeaders, o.IgnoreFields, o.ShadowMaxConcurrent, o.ShadowMaxBody)
			if got != tc.want {
				t.Errorf("routeOptions(%s) = %s, want %s", tc.name, got, tc.want)
			}
		})
	}
}

// TestRouteOptionsCarryOver checks that a reload keeps a route's rate limiter and
// idempotency store while their settings are unchanged, and builds new ones when
// they change.
func TestRouteOptionsCarryOver(t *testing.T) {
	base := config.Route{
		Name:        "orders",
		RateLimit:   &config.RateLimit{Rate: "10/s", Burst: 5, Key: "ip"},
		Idempotency: &config.Idempotency{Enabled: true, TTL: limits.Duration(time.Hour), OnConcurrent: "wait"},
	}
	first, err := routeOptions(base, previous{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	prev := previous{
		cfg: &config.Config{Routes: []config.Route{base}},
		w:   &router.World{Routes: map[string]router.RouteOptions{"orders": first}},
	}
	otherRate := base
	otherRate.RateLimit = &config.RateLimit{Rate: "20/s", Burst: 5, Key: "ip"}
	otherTTL := base
	otherTTL.Idempotency = &config.Idempotency{Enabled: true, TTL: limits.Duration(2 * time.Hour), OnConcurrent: "wait"}
	renamed := base
	renamed.Name = "orders-v2"
	tests := []struct {
		name                 string
		r                    config.Route
		prev                 previous
		sameLimit, sameStore bool
	}{
		{"unchanged", base, prev, true, true},
		{"rate changed", otherRate, prev, false, true},
		{"ttl changed", otherTTL, prev, true, false},
		{"another route", renamed, prev, false, false},
		{"first world", base, previous{}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := routeOptions(tc.r, tc.prev, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := o.RateLimit == first.RateLimit; got != tc.sameLimit {
				t.Errorf("same rate limiter = %v, want %v", got, tc.sameLimit)
			}
			if got := o.Idempotency == first.Idempotency; got != tc.sameStore {
				t.Errorf("same idempotency store = %v, want %v", got, tc.sameStore)
			}
			if o.RateLimit == nil || o.Idempotency == nil {
				t.Errorf("options lack a limiter or store: %+v", o)
			}
		})
	}
}
