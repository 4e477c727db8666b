package corpus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
)

// Defaults of WriterOptions.
const (
	DefaultMaxBytes  = 64 << 20
	DefaultQueueSize = 256
)

// WriterOptions configures a Writer. Zero fields take their defaults.
type WriterOptions struct {
	// Path is the corpus file, appended to (created with mode 0600: it holds
	// user traffic). Required.
	Path string
	// Sample is the share of requests recorded, in (0, 1]; 0 means 1 (every
	// request). Writer.Sample applies it.
	Sample float64
	// MaxBytes bounds the disk the corpus takes: when Path would grow past
	// half of it, Path is renamed to Path+".1" (replacing the older one) and
	// a new Path is begun, so the two never hold more than MaxBytes. A record
	// bigger than half of it is dropped. Default DefaultMaxBytes (64 MiB).
	MaxBytes int64
	// Redact says what is replaced before a record reaches the disk.
	Redact Redaction
	// QueueSize bounds the records waiting to be written; Write drops beyond
	// it. Default DefaultQueueSize.
	QueueSize int
	// Truncate begins a new corpus: Path and Path+".1" are removed first.
	// Default false: records are appended to what Path holds.
	Truncate bool
	// Logger receives write errors; nil discards.
	Logger *slog.Logger
}

// WriterStats are a Writer's counters.
type WriterStats struct {
	// Records were written; Dropped were not (queue full, too big, closed, or
	// a write error); Bytes is the size of what was written.
	Records, Dropped, Bytes uint64
	// Rotations counts the times Path was moved to Path+".1".
	Rotations uint64
}

// Writer appends records to a corpus file from one goroutine of its own. It
// is safe for concurrent use. Close it to flush.
type Writer struct {
	o   WriterOptions
	rd  *redactor
	log *slog.Logger

	seen                               atomic.Uint64 // Sample's counter
	records, dropped, bytes, rotations atomic.Uint64

	mu     sync.RWMutex // guards closed against Write's send
	closed bool
	q      chan *Record
	done   chan struct{}

	f    *os.File // owned by run
	size int64
}

// NewWriter validates o, opens the file and starts the writing goroutine.
func NewWriter(o WriterOptions) (*Writer, error) {
	if o.Path == "" {
		return nil, errors.New("corpus: WriterOptions.Path is required")
	}
	if o.Sample == 0 {
		o.Sample = 1
	}
	if !(o.Sample > 0 && o.Sample <= 1) {
		return nil, fmt.Errorf("corpus: sample %v must be in (0, 1]", o.Sample)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxBytes < 2<<10 {
		return nil, fmt.Errorf("corpus: max bytes %d must be at least 2 KiB", o.MaxBytes)
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	rd, err := compileRedaction(o.Redact)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	w := &Writer{o: o, rd: rd, log: o.Logger, q: make(chan *Record, o.QueueSize), done: make(chan struct{})}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if o.Truncate {
		for _, p := range []string{o.Path + ".1", o.Path} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("corpus: %w", err)
			}
		}
	}
	if err := w.open(); err != nil {
		return nil, err
	}
	go w.run()
	return w, nil
}

// Path returns the corpus file's path.
func (w *Writer) Path() string { return w.o.Path }

// Sample reports whether this request is to be recorded: a deterministic
// share WriterOptions.Sample of the calls (the first, then evenly spread). It
// takes no lock and allocates nothing.
func (w *Writer) Sample() bool {
	if w.o.Sample >= 1 {
		return true
	}
	i := w.seen.Add(1) - 1
	return math.Ceil(float64(i)*w.o.Sample) != math.Ceil(float64(i+1)*w.o.Sample)
}

// Write queues r for writing and reports whether it was queued. It never
// blocks: with the queue full, or the Writer closed, r is dropped and
// counted. The Writer owns r from then on (it redacts it in place).
func (w *Writer) Write(r *Record) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.closed {
		select {
		case w.q <- r:
			return true
		default:
		}
	}
	w.dropped.Add(1)
	return false
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{Records: w.records.Load(), Dropped: w.dropped.Load(), Bytes: w.bytes.Load(), Rotations: w.rotations.Load()}
}

// Close stops accepting records, writes those queued (until ctx ends) and
// closes the file. It is safe to call more than once.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.q)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.o.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("corpus: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	defer func() {
		if w.f != nil {
			_ = w.f.Close()
		}
	}()
	for r := range w.q {
		if err := w.write(r); err != nil {
			w.dropped.Add(1)
			w.log.Warn("corpus write failed", slog.String("path", w.o.Path), slog.Any("err", err))
		}
	}
}

// write redacts, encodes and appends r, rotating first when it would not fit.
func (w *Writer) write(r *Record) error {
	line, err := encodeLine(w.rd, r)
	if err != nil {
		return err
	}
	half := w.o.MaxBytes / 2
	if int64(len(line)) > half {
		return fmt.Errorf("record of %d bytes is over half of max_bytes (%d)", len(line), w.o.MaxBytes)
	}
	if w.f == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	if w.size+int64(len(line)) > half {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(line)
	w.size += int64(n)
	if err != nil {
		return err
	}
	w.records.Add(1)
	w.bytes.Add(uint64(n))
	return nil
}

func (w *Writer) rotate() error {
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return err
	}
	if err := os.Rename(w.o.Path, w.o.Path+".1"); err != nil {
		return err
	}
	w.rotations.Add(1)
	return w.open()
}

// encodeLine redacts r in place and returns its line, newline included.
func encodeLine(rd *redactor, r *Record) ([]byte, error) {
	r.Version = Version
	rd.record(r)
	line, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(line, '\n'), nil
}

// Encoder writes records to an io.Writer as they come, redacted as a Writer
// redacts them, with no queue, sampling or rotation: for importers, which must
// not drop records. It is not safe for concurrent use.
type Encoder struct {
	w  io.Writer
	rd *redactor
}

// NewEncoder returns an Encoder writing to w with redaction r.
func NewEncoder(w io.Writer, r Redaction) (*Encoder, error) {
	rd, err := compileRedaction(r)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	return &Encoder{w: w, rd: rd}, nil
}

// Encode redacts rec in place and writes it as one line.
func (e *Encoder) Encode(rec *Record) error {
	line, err := encodeLine(e.rd, rec)
	if err != nil {
		return err
	}
	_, err = e.w.Write(line)
	return err
}
