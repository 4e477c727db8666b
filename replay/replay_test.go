package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/corpus"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
)

// The quote guests (isolate/testdata/quote.wat, quote_v2.wat): the second
// adds "v":2 to the answer, a deliberate change for replay to find.
const (
	quoteV1 = "../isolate/testdata/quote.wasm"
	quoteV2 = "../isolate/testdata/quote_v2.wasm"
)

// rateURL is where the quote guest fetches the rate. Nothing listens there:
// every fetch must be answered from the recording.
const rateURL = "http://127.0.0.1:9/rate"

func loadQuote(t *testing.T, path string) *isolate.Function {
	t.Helper()
	rt, err := isolate.NewRuntime(context.Background(), isolate.RuntimeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	allow, err := limits.ParsePattern("http://127.0.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	f, err := rt.Load(context.Background(), isolate.Source{Path: path}, isolate.FunctionOptions{
		Name:   "quote",
		Config: []byte(rateURL),
		Policy: limits.Policy{Egress: limits.Egress{Allow: []limits.Pattern{allow}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	return f
}

// quoteRecord is a record of GET /quote?sku=N: legacy answered
// {"quote":RATE}; the function fetched RATE.
func quoteRecord(sku int, rate string) *corpus.Record {
	rec := &corpus.Record{
		Version: corpus.Version,
		Route:   "quote",
		Time:    time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC),
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Fetches: []corpus.Fetch{{
			Request:  corpus.NewRequest("GET", rateURL, "", nil, nil),
			Response: ptr(corpus.NewResponse(200, "", nil, []byte(rate))),
		}},
	}
	rec.Entry.Request = corpus.NewRequest("GET", "http://edge.test/quote?sku="+string(rune('0'+sku)), "",
		[]corpus.NameValue{nv("Host", "edge.test"), nv("Authorization", corpus.Redacted)}, nil)
	rec.Entry.Response = corpus.NewResponse(200, "", []corpus.NameValue{nv("Content-Type", "application/json")},
		[]byte(`{"quote":`+rate+`}`))
	return rec
}

func ptr[T any](v T) *T { return &v }

func corpusOf(t *testing.T, lines ...any) *corpus.Reader {
	t.Helper()
	var buf bytes.Buffer
	for _, l := range lines {
		switch v := l.(type) {
		case string:
			buf.WriteString(v)
		default:
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(b)
		}
		buf.WriteByte('\n')
	}
	return corpus.NewReader(&buf)
}

// TestReplayModule replays recordings against the recorded module (no
// mismatch) and a changed one (every record mismatches, and the difference
// is named); fetches come from the recording only.
func TestReplayModule(t *testing.T) {
	rules := Rules{CompareHeaders: []string{"Content-Type"}}
	tests := []struct {
		name     string
		module   string
		records  []any
		matched  int
		field    string
		got      string
		corrupt  []int
		unrecord int
	}{
		{"same module", quoteV1, []any{quoteRecord(1, "42"), quoteRecord(2, "1.08")}, 2, "", "", nil, 0},
		{"changed module", quoteV2, []any{quoteRecord(1, "42"), quoteRecord(2, "1.08")}, 0, "body:$.v", "2", nil, 0},
		{"corrupt line skipped", quoteV1, []any{quoteRecord(1, "42"), `{"v":1,"route":"quote","entry":`, quoteRecord(3, "7")}, 2, "", "", []int{2}, 0},
		{"fetch not recorded", quoteV1, []any{func() *corpus.Record { r := quoteRecord(1, "42"); r.Fetches = nil; return r }()}, 0, "status", "502", nil, 1},
		{"recorded fetch failure", quoteV1, []any{func() *corpus.Record {
			r := quoteRecord(1, "42")
			r.Fetches[0].Response, r.Fetches[0].Error = nil, corpus.FetchErrorTimeout
			r.Entry.Response = corpus.NewResponse(502, "", nil, nil)
			return r
		}()}, 1, "", "", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := loadQuote(t, tc.module)
			sum, err := Run(context.Background(), corpusOf(t, tc.records...), NewModule(f), Options{Rules: rules})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			records := len(tc.records) - len(tc.corrupt)
			if sum.Records != records || sum.Matched != tc.matched || sum.Mismatched != records-tc.matched {
				t.Fatalf("Run = %+v, want %d records, %d matched", sum, records, tc.matched)
			}
			if len(sum.Corrupt) != len(tc.corrupt) {
				t.Fatalf("corrupt lines %+v, want %v", sum.Corrupt, tc.corrupt)
			}
			for i, l := range tc.corrupt {
				if sum.Corrupt[i].Line != l {
					t.Errorf("corrupt line %d reported as %d", l, sum.Corrupt[i].Line)
				}
			}
			if tc.field != "" {
				m := sum.Mismatches[0]
				if m.Field != tc.field || m.Got != tc.got || m.Line != 1 || m.Unrecorded != tc.unrecord {
					t.Errorf("mismatch = %+v, want %s got %s, %d unrecorded", m, tc.field, tc.got, tc.unrecord)
				}
			}
			if f.Stats().EgressDenied != 0 {
				t.Errorf("a fetch reached the egress client")
			}
		})
	}
}

// TestReplayEgressPolicy: a replayed fetch is still checked against the
// function's allow-list.
func TestReplayEgressPolicy(t *testing.T) {
	rt, err := isolate.NewRuntime(context.Background(), isolate.RuntimeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	f, err := rt.Load(context.Background(), isolate.Source{Path: quoteV1}, isolate.FunctionOptions{Config: []byte(rateURL)})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(context.Background())
	sum, err := Run(context.Background(), corpusOf(t, quoteRecord(1, "42")), NewModule(f), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Mismatched != 1 || sum.Mismatches[0].Got != "502" {
		t.Errorf("Run = %+v, want the denied fetch to answer 502", sum)
	}
}

func TestCompare(t *testing.T) {
	base := func(body string, hdr ...corpus.NameValue) *corpus.Record {
		r := quoteRecord(1, "42")
		r.Entry.Response = corpus.NewResponse(200, "", append([]corpus.NameValue{nv("Content-Type", "application/json")}, hdr...), []byte(body))
		return r
	}
	ans := func(status int, body string, hdr ...corpus.NameValue) Answer {
		return Answer{Status: status, Body: []byte(body), Header: append([]corpus.NameValue{nv("content-type", "application/json")}, hdr...)}
	}
	tests := []struct {
		name  string
		rec   *corpus.Record
		ans   Answer
		rules Rules
		field string
	}{
		{"equal JSON, other order", base(`{"a":1,"b":[1,2]}`), ans(200, `{"b":[1,2],"a":1}`), Rules{}, ""},
		{"status", base(`{}`), ans(500, `{}`), Rules{}, "status"},
		{"compared header", base(`{}`, nv("X-Ver", "1")), ans(200, `{}`, nv("X-Ver", "2")), Rules{CompareHeaders: []string{"x-ver"}}, "header:x-ver"},
		{"header not compared", base(`{}`, nv("X-Ver", "1")), ans(200, `{}`), Rules{}, ""},
		{"ignored path", base(`{"at":"1","q":1}`), ans(200, `{"at":"2","q":1}`), Rules{Ignore: []string{"$.at"}}, ""},
		{"noise", base(`{"id":"x","q":1}`), ans(200, `{"id":"y","q":1}`), Rules{Noise: []string{"$.id"}}, ""},
		{"record's own noise", func() *corpus.Record { r := base(`{"id":"x"}`); r.Noise = []string{"$.id"}; return r }(), ans(200, `{"id":"y"}`), Rules{}, ""},
		{"redacted path", func() *corpus.Record {
			r := base(`{"token":"[redacted]","q":1}`)
			r.Redacted = []string{"header:set-cookie", "$.token"}
			return r
		}(), ans(200, `{"token":"t-9","q":1}`), Rules{}, ""},
		{"redacted header", func() *corpus.Record {
			r := base(`{}`, nv("X-Key", corpus.Redacted))
			r.Redacted = []string{"header:x-key"}
			return r
		}(), ans(200, `{}`, nv("X-Key", "k")), Rules{CompareHeaders: []string{"X-Key"}}, ""},
		{"body bytes", base(`plain`), ans(200, `other`), Rules{}, "body:"},
		{"truncated recording", func() *corpus.Record { r := base(``); r.Entry.Response.Truncated = true; return r }(), ans(200, `x`), Rules{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ignore, err := parsePaths(tc.rules.Ignore)
			if err != nil {
				t.Fatal(err)
			}
			res := Compare(tc.rec, tc.ans, tc.rules, ignore)
			if res.Field != tc.field || (res.Outcome == Match) != (tc.field == "") {
				t.Errorf("Compare = %+v, want field %q", res, tc.field)
			}
		})
	}
}

// TestReplayHTTP replays against a live server on loopback: the recorded
// request arrives as recorded (redacted headers left out) and its answer is
// compared.
func TestReplayHTTP(t *testing.T) {
	var got *http.Request
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("sku") == "2" {
			io.WriteString(w, `{"quote":0}`)
			return
		}
		io.WriteString(w, `{"quote":42}`)
	}))
	defer srv.Close()
	post := quoteRecord(1, "42")
	post.Entry.Request = corpus.NewRequest("POST", "http://edge.test/quote?sku=1", "",
		[]corpus.NameValue{nv("Host", "edge.test"), nv("Cookie", corpus.Redacted), nv("X-Trace", "t1")}, []byte(`{"n":1}`))
	target, err := NewHTTP(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Run(context.Background(), corpusOf(t, post, quoteRecord(2, "42")), target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Matched != 1 || sum.Mismatched != 1 || sum.Mismatches[0].Field != "body:$.quote" {
		t.Errorf("Run = %+v, want one match and one body mismatch", sum)
	}
	// got is the last request (sku=2); check the POST through a fresh run.
	if _, err := Run(context.Background(), corpusOf(t, post), target, Options{}); err != nil {
		t.Fatal(err)
	}
	if got.Method != "POST" || got.Host != "edge.test" || got.Header.Get("Cookie") != "" || got.Header.Get("X-Trace") != "t1" || gotBody != `{"n":1}` {
		t.Errorf("server got %s host %q headers %v body %q", got.Method, got.Host, got.Header, gotBody)
	}
	if _, err := NewHTTP("ftp://x", nil); err == nil {
		t.Error("NewHTTP(ftp://x) = nil error")
	}
}

func TestWriteText(t *testing.T) {
	s := Summary{Records: 2, Matched: 1, Mismatched: 1, MismatchRate: 0.5,
		Routes:     []RouteSummary{{Route: "quote", Records: 2, Matched: 1, Mismatched: 1}},
		Mismatches: []Result{{Line: 3, Route: "quote", Method: "GET", URL: "http://e/quote", Field: "body:$.v", Legacy: "(missing)", Got: "2"}},
		Corrupt:    []CorruptLine{{Line: 2, Error: "unexpected end of JSON input"}}}
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"quote  2        1      1         50.00%", "mismatch 1: GET http://e/quote (route quote, line 3)",
		"  body:$.v\n  - legacy:   (missing)\n  + replayed: 2", "corrupt line 2 skipped: unexpected end of JSON input"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("WriteText lacks %q:\n%s", want, buf.String())
		}
	}
}

func nv(name, value string) corpus.NameValue { return corpus.NameValue{Name: name, Value: value} }
