package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxLine bounds one line a Reader accepts, in bytes.
const DefaultMaxLine = 64 << 20

// LineError is a corrupt line of a corpus: its number (from 1) and why. A
// Reader that returned one goes on with the next line.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// ErrLineTooLong is the cause of a LineError for a line over the Reader's cap.
var ErrLineTooLong = errors.New("line too long")

// Reader reads a corpus line by line. It is not safe for concurrent use.
type Reader struct {
	br      *bufio.Reader
	line    int
	maxLine int
	buf     []byte
}

// NewReader returns a Reader of r, with lines capped at DefaultMaxLine.
func NewReader(r io.Reader) *Reader { return NewReaderSize(r, DefaultMaxLine) }

// NewReaderSize returns a Reader of r with lines capped at maxLine bytes
// (<= 0: DefaultMaxLine).
func NewReaderSize(r io.Reader, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), maxLine: maxLine}
}

// Next returns the next record. At the end it returns io.EOF. A line that is
// not a valid record gives a *LineError and is skipped: the next call reads
// the line after it. Blank lines are skipped silently. Other errors come from
// the underlying reader.
func (r *Reader) Next() (*Record, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return nil, err
		}
		r.line++
		if line == nil {
			return nil, &LineError{Line: r.line, Err: ErrLineTooLong}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec, err := Parse(line)
		if err != nil {
			return nil, &LineError{Line: r.line, Err: err}
		}
		return rec, nil
	}
}

// readLine returns the next line without its newline; nil (and no error)
// when it was over the cap, after skipping it; io.EOF at the end.
func (r *Reader) readLine() ([]byte, error) {
	r.buf = r.buf[:0]
	tooLong := false
	for {
		chunk, err := r.br.ReadSlice('\n')
		if !tooLong {
			if len(r.buf)+len(chunk) > r.maxLine+1 {
				tooLong, r.buf = true, r.buf[:0]
			} else {
				r.buf = append(r.buf, chunk...)
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(r.buf) == 0 && !tooLong {
				return nil, io.EOF
			}
		default:
			return nil, err
		}
		if tooLong {
			return nil, nil
		}
		return bytes.TrimSuffix(bytes.TrimSuffix(r.buf, []byte("\n")), []byte("\r")), nil
	}
}

// Line returns the number of the line Next read last (from 1).
func (r *Reader) Line() int { return r.line }

// Parse decodes one line of a corpus and validates it (Record.Validate).
func Parse(line []byte) (*Record, error) {
	var rec Record
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&rec); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	return &rec, nil
}
