package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeShippedConfigNamesTheFix runs `edged serve -config router.toml` on a
// copy of the shipped router.toml (module paths made absolute) the way a
// newcomer does after the quick start: first without the admin token file, then
// without the secret the auth function is granted. Each failure names the file,
// the key and how to fix it.
func TestServeShippedConfigNamesTheFix(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	data, err := os.ReadFile(repoPath(t, "router.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.ReplaceAll(string(data), `"examples/guests/`, `"`+repoPath(t, "examples/guests")+`/`)
	cfgPath := writeFile(t, dir, "router.toml", cfg, 0o644)
	tokenPath := filepath.Join(dir, ".edged", "admin.token")
	t.Setenv("EDGED_API_TOKEN", "")
	os.Unsetenv("EDGED_API_TOKEN") // restored by t.Setenv's cleanup

	tests := []struct {
		name  string
		setup func(t *testing.T)
		want  []string
	}{
		{"no admin token file", func(*testing.T) {}, []string{
			cfgPath, "admin.token_file", tokenPath, "does not exist", "openssl rand -hex 32 > " + tokenPath, "edged dev",
		}},
		{"secret not set", func(t *testing.T) {
			if err := os.MkdirAll(filepath.Dir(tokenPath), 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Dir(tokenPath), "admin.token", "tok\n", 0o600)
		}, []string{
			cfgPath, "secrets.api_token", "EDGED_API_TOKEN is not set", "EDGED_API_TOKEN=... edged serve",
			`remove "api_token" from functions.auth.secrets`, "edged dev starts without it",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup(t)
			code, _, stderr := runEdged(t, b, "serve", "-config", cfgPath)
			if code != 1 {
				t.Fatalf("edged serve -config router.toml = exit %d, want 1; stderr:\n%s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("edged serve -config router.toml stderr = %q, want it to contain %q", stderr, w)
				}
			}
		})
	}
}
