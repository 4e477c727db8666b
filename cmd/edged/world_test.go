package main

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edged/edged/internal/config"
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
			o, err := routeOptions(tc.r)
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
