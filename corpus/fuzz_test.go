package corpus

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// FuzzParse: any line either parses into a record that validates and
// re-encodes, or is refused; never a panic.
func FuzzParse(f *testing.F) {
	rec := testRecord(1)
	rec.Version = Version
	b, _ := json.Marshal(rec)
	f.Add(b)
	f.Add([]byte(`{"v":1,"entry":{"request":{"method":"GET","url":"http://x/"},"response":{"status":200,"content":{"text":"AA==","encoding":"base64"}}}}`))
	f.Add([]byte(`{"v":1}{"v":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := Parse(line)
		if err != nil {
			return
		}
		if err := rec.Validate(); err != nil {
			t.Fatalf("Parse accepted a record Validate refuses: %v", err)
		}
		out, err := json.Marshal(rec)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("a re-encoded record does not parse: %v\n%s", err, out)
		}
	})
}

// FuzzReader: the reader terminates on any input, numbers lines in order and
// never returns more records than lines.
func FuzzReader(f *testing.F) {
	rec := testRecord(1)
	rec.Version = Version
	b, _ := json.Marshal(rec)
	f.Add(append(append(b, '\n'), []byte("garbage\n\n")...))
	f.Add([]byte("\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReaderSize(bytes.NewReader(in), 512)
		lines := bytes.Count(in, []byte("\n")) + 1
		prev := 0
		for i := 0; ; i++ {
			if i > lines {
				t.Fatalf("more than %d results from %d lines", i, lines)
			}
			_, err := r.Next()
			if err == io.EOF {
				return
			}
			var le *LineError
			if errors.As(err, &le) {
				if le.Line <= prev {
					t.Fatalf("line %d reported after %d", le.Line, prev)
				}
				prev = le.Line
			} else if err != nil {
				t.Fatalf("Next: %v", err)
			}
		}
	})
}
