package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorpusImport imports the corpus package's HAR and GoReplay test files
// into one corpus: valid entries written and redacted, bad ones reported.
func TestCorpusImport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "corpus.jsonl")
	var stdout, stderr strings.Builder
	code := run([]string{"corpus", "import", "-route", "shop", "-out", out, "-redact", "$.card",
		"../../corpus/testdata/browser.har", "../../corpus/testdata/traffic.gor"}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "4 records written") || strings.Count(stderr.String(), "skipped") != 4 {
		t.Fatalf("corpus import: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), "\n"); n != 4 {
		t.Errorf("corpus has %d lines, want 4", n)
	}
	for _, secret := range []string{"browser-token", "gor-token", "4111111111111111"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("corpus holds %q", secret)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"no route", []string{"corpus", "import", "-out", out, "x.har"}, 2},
		{"no files", []string{"corpus", "import", "-route", "r", "-out", out}, 2},
		{"unknown kind", []string{"corpus", "import", "-route", "r", "-out", out, "../../go.mod"}, 1},
		{"no subcommand", []string{"corpus"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o, e strings.Builder
			if code := run(tc.args, &o, &e); code != tc.code {
				t.Errorf("run(%v) = %d, want %d\n%s", tc.args, code, tc.code, e.String())
			}
		})
	}
}
