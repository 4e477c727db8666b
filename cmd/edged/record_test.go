package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRecordReplay is record and replay end to end, with real processes on
// loopback: `edged serve` with a shadow route whose function fetches a rate,
// `edged record` capturing five requests, then `edged replay` of the corpus
// against the same module (no mismatch, with the rates service gone: fetches
// come from the recording), a deliberately changed module (every record
// mismatches and the difference is shown; exit 1), a corpus with a corrupt
// line (reported and skipped), and the live deployment (-against).
func TestRecordReplay(t *testing.T) {
	b := needBinaries(t)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "sid=legacy-session")
		io.WriteString(w, `{"quote":42}`)
	}))
	defer legacy.Close()
	rates := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "42") }))
	defer rates.Close()

	dir := t.TempDir()
	writeFile(t, dir, "admin.token", "token\n", 0o600)
	cfg := writeFile(t, dir, "router.toml", daemonTOML(b)+fmt.Sprintf(`
[upstreams.mono]
url = %[2]q

[secrets.api_token]
env = "EDGED_QUOTE_TOKEN"

[functions.quote]
module = %[1]q
config = "%[3]s/rate"
allowed_hosts = [%[3]q]
secrets = ["api_token"]

[[routes]]
name = "quote"
path = "/quote"
stage = "shadow"
function = "quote"
upstream = "mono"

  [routes.shadow]
  compare_headers = ["content-type"]

  [routes.record]
  redact = ["X-Api-Key"]
`, repoPath(t, "isolate/testdata/quote.wasm"), legacy.URL, rates.URL), 0o600)
	e := startEdged(t, b, []string{"EDGED_QUOTE_TOKEN=tok-value"}, "serve", "-config", cfg)

	out := filepath.Join(dir, "corpus.jsonl")
	rec := start(t, nil, b.edged, "record", "quote", "-for", "10m", "-out", out,
		"-admin", e.admin, "-token-file", filepath.Join(dir, "admin.token"))
	rec.stdout.wait(t, 0, "recording quote into ")
	const n = 5
	for i := range n {
		code, _, body := get(t, fmt.Sprintf("%s/quote?sku=%d", e.public, i),
			"Authorization", "Bearer client-secret", "X-Api-Key", "key-123")
		if code != 200 || body != `{"quote":42}` {
			t.Fatalf("GET /quote = %d %q", code, body)
		}
	}
	// The mirrors run in the background: wait until all five are queued,
	// then stop the recording early with Ctrl-C.
	waitMetric(t, e, "edged_record_records_total", `result="queued",route="quote"`, n)
	rec.signal(t, syscall.SIGINT)
	if code := rec.wait(t); code != 0 {
		t.Fatalf("edged record exited %d: %s", code, rec.stderr)
	}
	if s := rec.stdout.String(); !strings.Contains(s, "quote: 5 records (0 dropped)") || !strings.Contains(s, "corpus: "+out) {
		t.Fatalf("edged record printed %q", s)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(raw), "\n"); got != n {
		t.Fatalf("corpus has %d lines, want %d", got, n)
	}
	for _, secret := range []string{"client-secret", "key-123", "tok-value", "legacy-session"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the corpus holds %q", secret)
		}
	}
	rates.Close() // replay must not need it

	v1, v2 := repoPath(t, "isolate/testdata/quote.wasm"), repoPath(t, "isolate/testdata/quote_v2.wasm")
	code, stdout, stderr := runEdged(t, b, "replay", "-corpus", out, "-module", v1, "-config", cfg, "-route", "quote")
	if code != 0 || !strings.Contains(stdout, "quote  5        5      0         0.00%") {
		t.Fatalf("replay of the same module: exit %d\n%s%s", code, stdout, stderr)
	}

	code, stdout, stderr = runEdged(t, b, "replay", "-corpus", out, "-module", v2, "-config", cfg)
	if code != 1 || strings.Count(stdout, "body:$.v") != n || !strings.Contains(stdout, "+ replayed: 2") ||
		!strings.Contains(stderr, "mismatch rate 100.00% is above -max-mismatch-rate 0.00%") {
		t.Fatalf("replay of the changed module: exit %d\n%s%s", code, stdout, stderr)
	}

	code, stdout, stderr = runEdged(t, b, "replay", "-corpus", out, "-module", v2, "-config", cfg, "-json", "-max-mismatch-rate", "1")
	var sum struct {
		Records, Mismatched int
		Mismatches          []struct{ Field, Legacy, Got string }
	}
	if err := json.Unmarshal([]byte(stdout), &sum); code != 0 || err != nil || sum.Records != n || sum.Mismatched != n ||
		sum.Mismatches[0].Field != "body:$.v" || sum.Mismatches[0].Got != "2" {
		t.Fatalf("replay -json: exit %d, %v: %+v\n%s%s", code, err, sum, stdout, stderr)
	}

	f, err := os.OpenFile(out, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, `{"v":1,"route":"quote","entry":{"request":`)
	f.Close()
	code, stdout, stderr = runEdged(t, b, "replay", "-corpus", out, "-module", v1, "-config", cfg)
	if code != 0 || !strings.Contains(stdout, "corrupt line 6 skipped") || !strings.Contains(stdout, "total  5        5      0") {
		t.Fatalf("replay of a corpus with a corrupt line: exit %d\n%s%s", code, stdout, stderr)
	}

	// The live deployment answers from legacy at the shadow stage.
	code, stdout, stderr = runEdged(t, b, "replay", "-corpus", out, "-against", e.public, "-config", cfg)
	if code != 0 || !strings.Contains(stdout, "total  5        5      0         0.00%") {
		t.Fatalf("replay -against: exit %d\n%s%s", code, stdout, stderr)
	}
}
