package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildWithoutEvents: edged builds with -tags noevents, links no NATS
// package (go list -deps), and that binary refuses each file that needs the
// events engine ([events], [[triggers]], an enqueue route, a publish list)
// with a message saying so, while it accepts a file without events. The
// same files validate with the default build, so each refusal is the
// build's, not a mistake in the file. The sizes of both binaries are logged.
func TestBuildWithoutEvents(t *testing.T) {
	b := needBinaries(t)
	list, err := exec.Command("go", "list", "-deps", "-tags", "noevents", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps -tags noevents: %v\n%s", err, list)
	}
	for dep := range strings.FieldsSeq(string(list)) {
		if strings.Contains(dep, "nats-io") {
			t.Errorf("the noevents build depends on %s", dep)
		}
	}
	noev := filepath.Join(testBinDir, "edged-noevents")
	if out, err := exec.Command("go", "build", "-tags", "noevents", "-o", noev, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags noevents: %v\n%s", err, out)
	}
	for _, bin := range []string{b.edged, noev} {
		if st, err := os.Stat(bin); err == nil {
			t.Logf("%s: %d bytes", filepath.Base(bin), st.Size())
		}
	}
	hello := repoPath(t, "examples/guests/hello-c/hello-c.wasm")
	tests := []struct {
		name, toml string
		events     bool
	}{
		{"no events", "[functions.hello]\nmodule = %q\n", false},
		{"[events]", "[events]\nstore_dir = \"ev\"\n\n[functions.hello]\nmodule = %q\n", true},
		{"[[triggers]]", "[functions.hello]\nmodule = %q\n\n[[triggers]]\nname = \"t\"\nfunction = \"hello\"\nsubject = \"jobs\"\n", true},
		{"enqueue", "[functions.hello]\nmodule = %q\n\n[[triggers]]\nname = \"t\"\nfunction = \"hello\"\nsubject = \"jobs\"\n\n" +
			"[[routes]]\nname = \"in\"\npath = \"/in\"\nenqueue = \"jobs\"\n", true},
		{"publish", "[functions.hello]\nmodule = %q\npublish = [\"jobs.>\"]\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "admin.token", "token\n", 0o600)
			cfg := writeFile(t, dir, "router.toml", daemonTOML(b)+"\n"+strings.ReplaceAll(tc.toml, "%q", `"`+hello+`"`), 0o644)
			for _, bin := range []string{b.edged, noev} {
				code, stderr := validateWith(t, bin, cfg)
				refused := strings.Contains(stderr, "built without events (-tags noevents)")
				wantRefused := tc.events && bin == noev
				if refused != wantRefused || (code == 0) == wantRefused {
					t.Errorf("%s validate: exit %d, stderr %q; want refused (built without events) = %v",
						filepath.Base(bin), code, stderr, wantRefused)
				}
			}
		})
	}
}

// validateWith runs `bin validate -config cfg` and returns its exit code and
// standard error.
func validateWith(t *testing.T, bin, cfg string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "validate", "-config", cfg)
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		t.Fatalf("%s validate: %v", bin, err)
	}
	return cmd.ProcessState.ExitCode(), errb.String()
}
