package corpus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

type imported struct {
	recs    []*Record
	skipped []int
}

func runImport(t *testing.T, f func(io.Reader, string, func(*Record) error, func(int, error)) error, path string) imported {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got imported
	err = f(bytes.NewReader(data), "shop", func(r *Record) error { got.recs = append(got.recs, r); return nil },
		func(i int, _ error) { got.skipped = append(got.skipped, i) })
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	return got
}

// encodeAll writes recs through an Encoder, with the default redaction plus
// $.card, and reads them back.
func encodeAll(t *testing.T, recs []*Record) (string, []*Record) {
	t.Helper()
	var buf bytes.Buffer
	enc, err := NewEncoder(&buf, Redaction{JSONPaths: []string{"$.card"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	raw := buf.String()
	var out []*Record
	r := NewReader(strings.NewReader(raw))
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return raw, out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
}

func TestImportHAR(t *testing.T) {
	got := runImport(t, ImportHAR, "testdata/browser.har")
	if len(got.recs) != 2 || fmt.Sprint(got.skipped) != "[1]" {
		t.Fatalf("imported %d records, skipped %v; want 2 and [1] (the relative URL)", len(got.recs), got.skipped)
	}
	raw, recs := encodeAll(t, got.recs)
	for _, secret := range []string{"browser-token", "browser-session", "4111111111111111"} {
		if strings.Contains(raw, secret) {
			t.Errorf("the imported corpus holds %q", secret)
		}
	}
	r := recs[0]
	body, _ := r.Entry.Response.Body()
	req, _ := r.Entry.Request.Body()
	if r.Route != "shop" || r.Entry.Request.Method != "POST" || r.Entry.Request.URL != "https://shop.example/api/orders?draft=1" ||
		r.Entry.Response.Status != 201 || string(body) != `{"id":7}` || string(req) != `{"card":"[redacted]","item":"book"}` ||
		r.Latency.LegacyMS != 31.5 || r.Time.Format("15:04:05.000") != "05:00:00.123" {
		t.Errorf("record = %+v", r)
	}
}

func TestImportGor(t *testing.T) {
	got := runImport(t, ImportGor, "testdata/traffic.gor")
	// Payloads: 0 request a1, 1 response a1, 2 replayed response (ignored),
	// 3 request b2 (no response), 4 response c3 (no request), 5 bad
	// timestamp, 6 and 7 request and response e5.
	if len(got.recs) != 2 || fmt.Sprint(got.skipped) != "[4 5 3]" {
		t.Fatalf("imported %d records, skipped %v; want 2 and [4 5 3]", len(got.recs), got.skipped)
	}
	raw, recs := encodeAll(t, got.recs)
	for _, secret := range []string{"gor-token", "gor-session"} {
		if strings.Contains(raw, secret) {
			t.Errorf("the imported corpus holds %q", secret)
		}
	}
	r := recs[0]
	req, _ := r.Entry.Request.Body()
	resp, _ := r.Entry.Response.Body()
	if r.Entry.Request.URL != "http://shop.example/api/orders?x=1" || string(req) != `{"item":"pen"}` ||
		r.Entry.Response.Status != 201 || string(resp) != `{"id":9}` || r.Latency.LegacyMS != 2 {
		t.Errorf("record = %+v", r)
	}
	if recs[1].Entry.Request.URL != "http://shop.example/items/7" || recs[1].Entry.Response.Content.Text != "ok" {
		t.Errorf("second record = %+v", recs[1])
	}
}

func TestImportRefuses(t *testing.T) {
	emit := func(*Record) error { return nil }
	skip := func(int, error) {}
	if err := ImportHAR(strings.NewReader(`{"log":`), "r", emit, skip); err == nil {
		t.Error("ImportHAR of a cut file = nil error")
	}
	stop := errors.New("stop")
	err := ImportHAR(strings.NewReader(mustRead(t, "testdata/browser.har")), "r", func(*Record) error { return stop }, skip)
	if !errors.Is(err, stop) {
		t.Errorf("ImportHAR with a failing emit = %v, want it returned", err)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzImportHAR: any input imports or is refused, never a panic, and every
// record it emits is valid and encodes.
func FuzzImportHAR(f *testing.F) {
	if b, err := os.ReadFile("testdata/browser.har"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"log":{"entries":[{}]}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkImport(t, ImportHAR, in)
	})
}

// FuzzImportGor: the same for GoReplay files.
func FuzzImportGor(f *testing.F) {
	if b, err := os.ReadFile("testdata/traffic.gor"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("1 x 1 0\nGET / HTTP/1.1\r\n\r\n" + gorSeparator + "2 x 2 0\nHTTP/1.1 200 OK\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkImport(t, ImportGor, in)
	})
}

func checkImport(t *testing.T, f func(io.Reader, string, func(*Record) error, func(int, error)) error, in []byte) {
	enc, err := NewEncoder(io.Discard, Redaction{})
	if err != nil {
		t.Fatal(err)
	}
	_ = f(bytes.NewReader(in), "r", func(r *Record) error {
		if err := r.Validate(); err != nil {
			t.Fatalf("emitted an invalid record: %v", err)
		}
		return enc.Encode(r)
	}, func(int, error) {})
}
