package corpus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testRecord(i int) *Record {
	hdr := []NameValue{{"Content-Type", "application/json"}, {"Authorization", "Bearer s3cret"}, {"Cookie", "sid=abc"}, {"X-Api-Key", "k-123"}}
	body := fmt.Sprintf(`{"user":"ada","password":"hunter2","n":%d}`, i)
	return &Record{
		Route:   "users",
		Stage:   "shadow",
		Time:    time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC),
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Entry: Entry{
			Request:  NewRequest("POST", fmt.Sprintf("http://example.test/api/users?page=%d", i), "HTTP/1.1", hdr, []byte(body)),
			Response: NewResponse(201, "HTTP/1.1", []NameValue{{"Set-Cookie", "sid=xyz"}, {"Content-Type", "application/json"}}, []byte(`{"id":7,"token":"t-1"}`)),
		},
		Latency: Latency{LegacyMS: 1.5, FunctionMS: 0.7},
		Fetches: []Fetch{
			{Request: NewRequest("GET", "http://rates.test/eur", "", []NameValue{{"Authorization", "Bearer up"}}, nil),
				Response: ptr(NewResponse(200, "", nil, []byte("1.08")))},
			{Request: NewRequest("GET", "http://evil.test/", "", nil, nil), Error: FetchErrorDenied},
		},
		Secrets: []string{"api_token"},
	}
}

func ptr[T any](v T) *T { return &v }

func newWriter(t *testing.T, o WriterOptions) *Writer {
	t.Helper()
	if o.Path == "" {
		o.Path = filepath.Join(t.TempDir(), "corpus.jsonl")
	}
	w, err := NewWriter(o)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	return w
}

// TestWriterRedactsBeforeWriting reads the file back byte for byte: no
// secret reaches the disk, and the record round-trips otherwise.
func TestWriterRedactsBeforeWriting(t *testing.T) {
	w := newWriter(t, WriterOptions{Redact: Redaction{Headers: []string{"x-api-key"}, JSONPaths: []string{"$.password", "$.token"}}})
	if !w.Write(testRecord(1)) {
		t.Fatal("Write dropped the record")
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cret", "sid=abc", "sid=xyz", "k-123", "hunter2", "t-1", "Bearer up"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the corpus holds %q: %s", secret, raw)
		}
	}
	st, _ := os.Stat(w.Path())
	if st.Mode().Perm() != 0o600 {
		t.Errorf("corpus mode = %v, want 0600", st.Mode().Perm())
	}
	rec, err := NewReader(bytes.NewReader(raw)).Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	body, _ := rec.Entry.Request.Body()
	if got, want := string(body), `{"n":1,"password":"[redacted]","user":"ada"}`; got != want {
		t.Errorf("request body = %s, want %s", got, want)
	}
	if v, _ := Header(rec.Entry.Request.Headers, "authorization"); v != Redacted {
		t.Errorf("Authorization = %q, want %q", v, Redacted)
	}
	if v, _ := Header(rec.Entry.Request.Headers, "content-type"); v != "application/json" {
		t.Errorf("Content-Type = %q, want it kept", v)
	}
	if rec.Fetches[0].Response == nil || rec.Fetches[0].Response.Content.Text != "1.08" || rec.Fetches[1].Error != FetchErrorDenied {
		t.Errorf("fetches = %+v, want the answer and the denial kept", rec.Fetches)
	}
	want := []string{"header:authorization", "header:proxy-authorization", "header:cookie", "header:set-cookie", "header:x-api-key", "$.password", "$.token"}
	if fmt.Sprint(rec.Redacted) != fmt.Sprint(want) {
		t.Errorf("Redacted = %v, want %v", rec.Redacted, want)
	}
	if rec.Route != "users" || rec.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || rec.Latency.LegacyMS != 1.5 || rec.Secrets[0] != "api_token" {
		t.Errorf("record = %+v, want the fields kept", rec)
	}
}

// TestWriterRotationBoundsDisk writes far more than MaxBytes: the two files
// together stay under it and the newest records are kept.
func TestWriterRotationBoundsDisk(t *testing.T) {
	const maxBytes = 16 << 10
	w := newWriter(t, WriterOptions{MaxBytes: maxBytes, QueueSize: 1024})
	const n = 200
	for i := range n {
		if !w.Write(testRecord(i)) {
			t.Fatalf("Write %d dropped", i)
		}
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Records != n || st.Rotations == 0 {
		t.Fatalf("Stats() = %+v, want %d records and rotations", st, n)
	}
	var total int64
	var last *Record
	for _, p := range []string{w.Path() + ".1", w.Path()} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
		f, _ := os.Open(p)
		r := NewReader(f)
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			last = rec
		}
		f.Close()
	}
	if total > maxBytes {
		t.Errorf("corpus files hold %d bytes, want <= %d", total, maxBytes)
	}
	if last == nil || !strings.HasSuffix(last.Entry.Request.URL, fmt.Sprintf("page=%d", n-1)) {
		t.Errorf("last record kept = %v, want page=%d", last, n-1)
	}
}

// TestWriterNeverBlocks: a tiny queue drops instead of blocking, every record
// is either written or counted as dropped, and a closed Writer drops.
func TestWriterNeverBlocks(t *testing.T) {
	w := newWriter(t, WriterOptions{QueueSize: 1})
	const n = 500
	for i := range n {
		w.Write(testRecord(i))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Records+st.Dropped != n {
		t.Errorf("Stats() = %+v, want records + dropped = %d", st, n)
	}
	if w.Write(testRecord(0)) {
		t.Error("Write after Close queued a record")
	}
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestWriterTruncate: a Writer appends to a corpus unless told to begin a
// new one.
func TestWriterTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	count := func() int {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		n := 0
		for r := NewReader(f); ; n++ {
			if _, err := r.Next(); err != nil {
				return n
			}
		}
	}
	for _, tc := range []struct {
		truncate bool
		want     int
	}{{false, 1}, {false, 2}, {true, 1}} {
		w := newWriter(t, WriterOptions{Path: path, Truncate: tc.truncate})
		w.Write(testRecord(1))
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != tc.want {
			t.Errorf("Truncate %v: %d records, want %d", tc.truncate, got, tc.want)
		}
	}
}

func TestWriterSample(t *testing.T) {
	for _, tc := range []struct {
		sample float64
		want   int
	}{{0, 100}, {1, 100}, {0.1, 10}, {0.25, 25}, {0.5, 50}} {
		t.Run(fmt.Sprint(tc.sample), func(t *testing.T) {
			w := newWriter(t, WriterOptions{Sample: tc.sample})
			got := 0
			for range 100 {
				if w.Sample() {
					got++
				}
			}
			if got != tc.want {
				t.Errorf("Sample() true %d times of 100, want %d", got, tc.want)
			}
		})
	}
}

func TestNewWriterRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		o    WriterOptions
	}{
		{"no path", WriterOptions{}},
		{"sample over 1", WriterOptions{Path: filepath.Join(dir, "a"), Sample: 1.5}},
		{"negative sample", WriterOptions{Path: filepath.Join(dir, "a"), Sample: -0.1}},
		{"tiny max bytes", WriterOptions{Path: filepath.Join(dir, "a"), MaxBytes: 100}},
		{"bad JSON path", WriterOptions{Path: filepath.Join(dir, "a"), Redact: Redaction{JSONPaths: []string{"password"}}}},
		{"directory missing", WriterOptions{Path: filepath.Join(dir, "no", "such", "corpus.jsonl")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w, err := NewWriter(tc.o); err == nil {
				_ = w.Close(context.Background())
				t.Errorf("NewWriter(%+v) = nil error", tc.o)
			}
		})
	}
}

// TestReaderSkipsCorruptLines: each corrupt line is reported with its number
// and the good lines around it are read.
func TestReaderSkipsCorruptLines(t *testing.T) {
	good := func(i int) string {
		rec := testRecord(i)
		rec.Version = Version
		var buf bytes.Buffer
		w := newWriter(t, WriterOptions{})
		w.Write(rec)
		_ = w.Close(context.Background())
		b, _ := os.ReadFile(w.Path())
		buf.Write(b)
		return strings.TrimSuffix(buf.String(), "\n")
	}
	lines := []string{
		good(1),
		`{"v":1,"route":"users","entry":{"request":{"method":"GET","url":"http://x/`, // cut short
		"",
		good(2),
		`{"v":2}`,
		`{"v":1,"entry":{"request":{"method":"GET","url":"/relative"},"response":{"status":200}}}`,
		strings.Repeat("x", 300),
		good(3),
	}
	r := NewReaderSize(strings.NewReader(strings.Join(lines, "\n")), 4096)
	var pages []string
	var bad []int
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		var le *LineError
		if errors.As(err, &le) {
			bad = append(bad, le.Line)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, rec.Entry.Request.URL[strings.LastIndexByte(rec.Entry.Request.URL, '=')+1:])
	}
	if fmt.Sprint(pages) != "[1 2 3]" || fmt.Sprint(bad) != "[2 5 6 7]" {
		t.Errorf("read pages %v and corrupt lines %v, want [1 2 3] and [2 5 6 7]", pages, bad)
	}
}

func TestReaderLineTooLong(t *testing.T) {
	in := strings.Repeat("y", 200<<10) + "\n" + `{"v":1}` + "\n"
	r := NewReaderSize(strings.NewReader(in), 1024)
	_, err := r.Next()
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("Next = %v, want ErrLineTooLong", err)
	}
	var le *LineError
	if _, err = r.Next(); !errors.As(err, &le) || le.Line != 2 {
		t.Fatalf("second Next = %v, want a LineError on line 2", err)
	}
	if _, err = r.Next(); err != io.EOF {
		t.Fatalf("third Next = %v, want io.EOF", err)
	}
}

func TestBodyEncoding(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("plain"), {0xff, 0x00, 0xfe}} {
		resp := NewResponse(200, "", nil, b)
		got, err := resp.Body()
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("Body() of %q = %q, %v", b, got, err)
		}
		req := NewRequest("POST", "http://x/", "", nil, b)
		got, err = req.Body()
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("request Body() of %q = %q, %v", b, got, err)
		}
	}
}
