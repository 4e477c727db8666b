package daemon

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/corpus"
)

// quoteServers starts a legacy upstream answering {"quote":42} and the rates
// service the quote guest fetches 42 from.
func quoteServers(t *testing.T) (legacy, rates string) {
	t.Helper()
	l := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"quote":42}`)
	}))
	t.Cleanup(l.Close)
	r := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "42") }))
	t.Cleanup(r.Close)
	return l.URL, r.URL
}

func quoteConfig(t *testing.T, legacy, rates, record string) string {
	t.Setenv("EDGED_TEST_API_TOKEN", "tok-value")
	return routerTOML{Body: fmt.Sprintf(`
[upstreams.mono]
url = %[2]q

[secrets.api_token]
env = "EDGED_TEST_API_TOKEN"

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
%[4]s

[[routes]]
name = "legacy"
path = "/legacy"
stage = "legacy"
upstream = "mono"
`, testdataWasm(t, "quote"), legacy, rates, record)}.String()
}

func readRecords(t *testing.T, path string) []*corpus.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*corpus.Record
	r := corpus.NewReader(f)
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
}

// getQuote asks url for a quote with credentials that must not be recorded.
func getQuote(t *testing.T, url string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer client-secret")
	req.Header.Set("X-Api-Key", "key-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != `{"quote":42}` {
		t.Fatalf("GET %s = %d %q", url, resp.StatusCode, b)
	}
}

// TestDaemonRecords: [routes.record] enabled records from start; stop
// flushes; an on-demand start on a legacy route records with the defaults
// under state_dir.
func TestDaemonRecords(t *testing.T) {
	legacy, rates := quoteServers(t)
	d, path := startDaemon(t, quoteConfig(t, legacy, rates, `
  [routes.record]
  enabled = true
  redact = ["X-Api-Key"]
  path = "corpus/quote.jsonl"`))
	dir := filepath.Dir(path)
	for range 3 {
		getQuote(t, d.PublicURL()+"/quote?sku=1")
	}
	// Stop flushes what the mirrors recorded. A mirror still running when
	// stop comes is not recorded, so wait for the three first: the mirrors
	// run in the background and give no signal the daemon exposes.
	w := d.server.Recording("quote")
	if w == nil {
		t.Fatal("route quote is not recording")
	}
	deadline := time.Now().Add(20 * time.Second)
	for w.Stats().Records < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the three mirrors were not recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, body := adminPost(t, d, "/v1/routes/quote/record/stop")
	if code != 200 || !strings.Contains(body, `"records": 3`) || !strings.Contains(body, `"recording": false`) {
		t.Fatalf("record/stop = %d %s", code, body)
	}
	recs := readRecords(t, filepath.Join(dir, "corpus", "quote.jsonl"))
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "corpus", "quote.jsonl"))
	for _, secret := range []string{"client-secret", "key-123", "tok-value"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the corpus holds %q", secret)
		}
	}
	if r := recs[0]; len(r.Fetches) != 1 || r.Fetches[0].Response.Content.Text != "42" || len(r.Secrets) != 1 {
		t.Errorf("record = %+v, want the fetch and the secret name", r)
	}

	// On demand, with the defaults.
	code, body = adminPost(t, d, "/v1/routes/legacy/record/start")
	want := filepath.Join(dir, "state", "record", "legacy.jsonl")
	if code != 200 || !strings.Contains(body, want) || !strings.Contains(body, `"recording": true`) {
		t.Fatalf("record/start = %d %s, want the path %s", code, body, want)
	}
	getQuote(t, d.PublicURL()+"/legacy")
	if code, body = adminPost(t, d, "/v1/routes/legacy/record/stop"); code != 200 || !strings.Contains(body, `"records": 1`) {
		t.Fatalf("record/stop = %d %s", code, body)
	}
	if recs := readRecords(t, want); len(recs) != 1 || recs[0].Stage != "legacy" {
		t.Fatalf("legacy corpus = %+v, want one legacy record", recs)
	}
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/v1/routes/nope/record/start", 404},
		{"/v1/routes/quote/record/pause", 404},
	} {
		if code, body := adminPost(t, d, tc.path); code != tc.code {
			t.Errorf("POST %s = %d %s, want %d", tc.path, code, body, tc.code)
		}
	}
}
