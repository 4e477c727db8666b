package router

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/corpus"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

const guestQuote = "../isolate/testdata/quote.wasm"

// quoteWorld is a legacy /quote answering {"quote":42} and the quote guest,
// which fetches the rate (42) from a loopback rates service.
func quoteWorld(t *testing.T) (*World, *httptest.Server) {
	t.Helper()
	rates := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "42")
	}))
	t.Cleanup(rates.Close)
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Content-Type", "application/json")
		ctx.Response.Header.Set("Set-Cookie", "sid=legacy-session")
		ctx.SetBodyString(`{"quote":42}`)
	})
	allow, err := limits.ParsePattern(rates.URL)
	if err != nil {
		t.Fatal(err)
	}
	f := loadFunction(t, guestQuote, isolate.FunctionOptions{
		Config:  []byte(rates.URL + "/rate"),
		Policy:  limits.Policy{Egress: limits.Egress{Allow: []limits.Pattern{allow}}},
		Secrets: map[string][]byte{"api_token": []byte("tok-value")},
	})
	return &World{
		Upstreams: map[string]*proxy.Upstream{"mono": newUpstream(t, up.Addr().String(), proxy.Options{})},
		Functions: map[string]*isolate.Function{"quote": f},
		Routes:    map[string]RouteOptions{"quote": {CompareHeaders: []string{"content-type"}}},
	}, rates
}

func readCorpus(t *testing.T, path string) []*corpus.Record {
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
			t.Fatalf("read %s: %v", path, err)
		}
		out = append(out, rec)
	}
}

// TestRecordShadow records a shadow route: each record has the request, the
// legacy answer, the function's fetch answer and secret name, its own answer,
// and nothing of the credentials reaches the disk.
func TestRecordShadow(t *testing.T) {
	w, _ := quoteWorld(t)
	e := startEdge(t, []strangler.Route{
		{Name: "quote", Path: "/quote", Function: "quote", Upstream: "mono", Stage: strangler.StageShadow},
	}, w)
	path := filepath.Join(t.TempDir(), "quote.jsonl")
	cw, err := corpus.NewWriter(corpus.WriterOptions{Path: path, Redact: corpus.Redaction{Headers: []string{"X-Api-Key"}}})
	if err != nil {
		t.Fatal(err)
	}
	if prev := e.srv.Record("quote", cw); prev != nil {
		t.Fatalf("Record returned %v, want nil", prev)
	}
	if e.srv.Recording("quote") != cw {
		t.Fatal("Recording(quote) is not the writer")
	}
	hdr := map[string]string{"Authorization": "Bearer client-secret", "X-Api-Key": "key-123", "Cookie": "sid=client"}
	for range 3 {
		if r := send(t, "GET", "http://"+e.addr+"/quote?sku=7", hdr, ""); r.status != 200 || r.body != `{"quote":42}` {
			t.Fatalf("GET /quote = %d %q", r.status, r.body)
		}
	}
	e.waitMirror(t, 3)
	// Stopping returns the writer; later requests are not recorded.
	if prev := e.srv.Record("quote", nil); prev != cw {
		t.Fatalf("Record(nil) returned %v, want the writer", prev)
	}
	send(t, "GET", "http://"+e.addr+"/quote", hdr, "")
	e.waitMirror(t, 1)
	if err := cw.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, secret := range []string{"client-secret", "key-123", "sid=client", "legacy-session", "tok-value"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the corpus holds %q", secret)
		}
	}
	recs := readCorpus(t, path)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	rec := recs[0]
	if rec.Route != "quote" || rec.Stage != "shadow" || rec.Entry.Request.Method != "GET" ||
		rec.Entry.Request.URL != "http://"+e.addr+"/quote?sku=7" || rec.Entry.Response.Status != 200 ||
		rec.Entry.Response.Content.Text != `{"quote":42}` {
		t.Errorf("record = %+v %+v, want the request and legacy's answer", rec.Entry.Request, rec.Entry.Response)
	}
	if rec.Function == nil || rec.Function.Status != 200 || rec.Function.Mismatch != "" {
		t.Errorf("function = %+v, want 200 and no mismatch", rec.Function)
	}
	if len(rec.Fetches) != 1 || rec.Fetches[0].Response == nil || rec.Fetches[0].Response.Content.Text != "42" ||
		!strings.HasSuffix(rec.Fetches[0].Request.URL, "/rate") {
		t.Errorf("fetches = %+v, want the rate fetch and its answer", rec.Fetches)
	}
	if len(rec.Secrets) != 1 || rec.Secrets[0] != "api_token" {
		t.Errorf("secrets = %v, want [api_token]", rec.Secrets)
	}
	if rec.Latency.LegacyMS <= 0 || rec.Latency.FunctionMS <= 0 || rec.Time.IsZero() {
		t.Errorf("latency %+v, time %v: want both sides and a time", rec.Latency, rec.Time)
	}
	mrec := httptest.NewRecorder()
	e.srv.MetricsHandler().ServeHTTP(mrec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{`edged_record_records_total{result="queued",route="quote"} 3`, `edged_record_records_total{result="dropped",route="quote"} 0`} {
		if !strings.Contains(mrec.Body.String(), want) {
			t.Errorf("GET /metrics lacks %s", want)
		}
	}
}

// TestRecordLegacy records a legacy route (on demand): the request and
// legacy's answer, no function.
func TestRecordLegacy(t *testing.T) {
	w, _ := quoteWorld(t)
	e := startEdge(t, []strangler.Route{
		{Name: "quote", Path: "/quote", Function: "quote", Upstream: "mono", Stage: strangler.StageLegacy},
		{Name: "canary", Path: "/canary", Function: "quote", Upstream: "mono", Stage: strangler.StageCanary, Weight: 0},
	}, w)
	path := filepath.Join(t.TempDir(), "quote.jsonl")
	cw, err := corpus.NewWriter(corpus.WriterOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Record("quote", cw)
	e.srv.Record("canary", cw) // canary routes do not record
	send(t, "POST", "http://"+e.addr+"/quote", map[string]string{"Content-Type": "application/json"}, `{"sku":7}`)
	send(t, "GET", "http://"+e.addr+"/canary", nil, "")
	if err := cw.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := readCorpus(t, path)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1 (legacy only)", len(recs))
	}
	body, _ := recs[0].Entry.Request.Body()
	if recs[0].Stage != "legacy" || recs[0].Function != nil || string(body) != `{"sku":7}` ||
		recs[0].Entry.Response.Content.Text != `{"quote":42}` {
		t.Errorf("record = %+v, want the POST and legacy's answer, no function", recs[0])
	}
}
