package otlp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged/edged/trace"
)

// Defaults of Options.
const (
	DefaultServiceName = "edged"
	DefaultTimeout     = 10 * time.Second
	DefaultQueueSize   = 8192

	// defaultPath is the OTLP/HTTP traces path, appended to an endpoint
	// given without one.
	defaultPath = "/v1/traces"
	// maxBatch is the most spans one export carries (the OpenTelemetry
	// SDK's default); smaller queues export in batches of their own size.
	maxBatch = 512
	// interval is how long a span waits at most for a batch to fill.
	interval = time.Second
	// scopeName is the instrumentation scope of every span: the package
	// that records them.
	scopeName = "github.com/edged/edged/router"
	// maxBackoff caps the wait between retries of one batch.
	maxBackoff = 5 * time.Second
)

// Sentinel errors of New, for errors.Is.
var (
	// ErrEndpoint: Options.Endpoint is not an http:// or https:// URL with a
	// host (and no user info, query or fragment).
	ErrEndpoint = errors.New("endpoint must be an http or https URL with a host")
	// ErrOptions: another field of Options is out of range.
	ErrOptions = errors.New("invalid tracing options")
)

// Options configure an Exporter. The zero value of every field but Endpoint
// is its documented default.
type Options struct {
	// Endpoint is the collector's OTLP/HTTP URL. Without a path (or with
	// "/"), as in "http://127.0.0.1:4318", spans are POSTed to /v1/traces;
	// a URL with a path is used as is. http or https only; user info, query
	// and fragment are refused (put credentials in Headers). Required.
	Endpoint string
	// Headers are sent with every export request, typically a collector API
	// key. They are copied; values are never logged. Nil means none.
	Headers map[string]string
	// ServiceName is the service.name resource attribute. Default "edged".
	ServiceName string
	// ServiceVersion is the service.version resource attribute; empty
	// leaves it out.
	ServiceVersion string
	// Timeout bounds one export (one batch), retries of 429/502/503/504 and
	// of connection failures included. Default 10s; must not be negative.
	Timeout time.Duration
	// QueueSize caps the spans held for export, queued or being sent.
	// Above it, new spans are dropped. Default 8192 (a few MiB; at 100% sampling
	// about a tenth of a second of a busy route); must not be negative.
	QueueSize int
	// Logger receives export failures and recoveries; nil discards them.
	Logger *slog.Logger
}

// Exporter sends router spans to an OTLP/HTTP collector in batches, encoded
// as protobuf by the package itself: the OpenTelemetry SDK's path (span
// snapshots, its batch processor, its conversion to the generated protobuf
// types and their reflection-driven encoding) cost more than the whole
// request on edged's fastest routes. It implements trace.Exporter. All
// methods are safe for concurrent use.
type Exporter struct {
	url     string
	header  http.Header
	client  *http.Client
	timeout time.Duration
	log     *slog.Logger
	limit   int
	batch   int
	enc     *encoder // used by the sending goroutine only

	// mu guards the queue. pending counts the spans queued and being sent:
	// at most limit, so memory is bounded whatever the collector does.
	mu      sync.Mutex
	queue   []trace.Span
	attrs   []trace.Attr // backing store of the queued spans' Attrs
	pending int
	spareQ  []trace.Span // the buffers of the last batch sent, for reuse
	spareA  []trace.Attr

	wake     chan struct{}      // a full batch is waiting
	flushReq chan chan struct{} // Flush: send everything, then close the channel
	quit     chan struct{}      // closed by Shutdown
	done     chan struct{}      // closed when the sender has sent its last batch
	stop     sync.Once

	dropped atomic.Uint64
	failed  atomic.Uint64
	failing atomic.Bool
	closed  atomic.Bool
}

var _ trace.Exporter = (*Exporter)(nil)
var _ trace.ExporterStats = (*Exporter)(nil)

// New returns an Exporter that sends to o.Endpoint, with its sending
// goroutine started. It does not contact the collector: an unreachable
// collector shows up later, as logged failures and Failed. New returns an
// error wrapping ErrEndpoint or ErrOptions for bad options, or ctx's error.
// Call Shutdown when done; ctx does not bound the Exporter's life.
func New(ctx context.Context, o Options) (*Exporter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u, err := parseEndpoint(o.Endpoint)
	if err != nil {
		return nil, err
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("timeout %v: must not be negative: %w", o.Timeout, ErrOptions)
	}
	if o.QueueSize < 0 {
		return nil, fmt.Errorf("queue size %d: must not be negative: %w", o.QueueSize, ErrOptions)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.ServiceName == "" {
		o.ServiceName = DefaultServiceName
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	header := make(http.Header, len(o.Headers)+1)
	for k, v := range o.Headers {
		header.Set(k, v)
	}
	header.Set("Content-Type", "application/x-protobuf")
	res := []trace.Attr{trace.Str("service.name", o.ServiceName)}
	if o.ServiceVersion != "" {
		res = append(res, trace.Str("service.version", o.ServiceVersion))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a collector on the operator's network; no environment proxy
	tr.MaxIdleConnsPerHost = 2
	e := &Exporter{
		url:      u,
		header:   header,
		client:   &http.Client{Transport: tr, CheckRedirect: noRedirects},
		timeout:  o.Timeout,
		log:      log,
		limit:    o.QueueSize,
		batch:    min(maxBatch, o.QueueSize),
		enc:      newEncoder(res, scopeName),
		wake:     make(chan struct{}, 1),
		flushReq: make(chan chan struct{}),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go e.run()
	return e, nil
}

// noRedirects keeps a redirect from carrying the headers (an API key)
// anywhere else.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// parseEndpoint checks an endpoint URL and returns the URL to POST to. Its
// errors quote the URL with any user info redacted.
func parseEndpoint(s string) (string, error) {
	u, perr := url.Parse(s)
	var why string
	switch {
	case s == "":
		why = "empty"
	case perr != nil:
		return "", fmt.Errorf("endpoint: %w", ErrEndpoint)
	case u.Scheme != "http" && u.Scheme != "https":
		why = "scheme must be http or https"
	case u.Opaque != "" || u.Hostname() == "":
		why = "missing host"
	case u.User != nil:
		u.User = url.User("REDACTED")
		why = "user info is not allowed"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		why = "query and fragment are not allowed"
	case strings.HasSuffix(u.Host, ":"):
		why = "empty port"
	}
	if why == "" && u.Port() != "" {
		if n, err := strconv.ParseUint(u.Port(), 10, 16); err != nil || n == 0 {
			why = "port must be a number from 1 to 65535"
		}
	}
	if why != "" {
		return "", fmt.Errorf("endpoint %q: %s: %w", u.String(), why, ErrEndpoint)
	}
	if p := u.EscapedPath(); p == "" || p == "/" {
		u.Path, u.RawPath = defaultPath, ""
	}
	return u.String(), nil
}

// ExportSpans queues spans for export and returns at once: it implements
// trace.Exporter. The spans are copied (their strings are kept, as
// strings are immutable; their attribute slices are not). If the queue
// cannot take all of them, none is queued and all count as dropped; spans
// with a zero trace or span id are dropped too. After Shutdown it does
// nothing.
func (e *Exporter) ExportSpans(spans []trace.Span) {
	if len(spans) == 0 || e.closed.Load() {
		return
	}
	valid := 0
	for i := range spans {
		if !spans[i].TraceID.IsZero() && !spans[i].SpanID.IsZero() {
			valid++
		}
	}
	if invalid := len(spans) - valid; invalid > 0 {
		e.dropped.Add(uint64(invalid))
	}
	if valid == 0 {
		return
	}
	e.mu.Lock()
	if e.pending+valid > e.limit {
		e.mu.Unlock()
		e.dropped.Add(uint64(valid))
		return
	}
	e.pending += valid
	for i := range spans {
		s := spans[i]
		if s.TraceID.IsZero() || s.SpanID.IsZero() {
			continue
		}
		from := len(e.attrs)
		e.attrs = append(e.attrs, s.Attrs...)
		// A later append may move e.attrs; this span keeps the array it
		// was copied into, which stays valid.
		s.Attrs = e.attrs[from:len(e.attrs):len(e.attrs)]
		e.queue = append(e.queue, s)
	}
	full := len(e.queue) >= e.batch
	e.mu.Unlock()
	if full {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

// run is the sending goroutine: it sends a batch when one is full, when a
// span has waited interval, on Flush, and everything at Shutdown.
func (e *Exporter) run() {
	defer close(e.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-e.wake:
			e.send(false)
		case <-tick.C:
			e.send(true)
		case ch := <-e.flushReq:
			e.send(true)
			close(ch)
		case <-e.quit:
			e.send(true)
			return
		}
	}
}

// send exports the queue in batches: every span when all is set, else only
// full batches.
func (e *Exporter) send(all bool) {
	e.mu.Lock()
	q, a := e.queue, e.attrs
	if len(q) == 0 || (!all && len(q) < e.batch) {
		e.mu.Unlock()
		return
	}
	e.queue, e.attrs = e.spareQ[:0], e.spareA[:0]
	e.mu.Unlock()

	for rest := q; len(rest) > 0; {
		n := min(len(rest), e.batch)
		e.post(rest[:n])
		e.mu.Lock()
		e.pending -= n
		e.mu.Unlock()
		rest = rest[n:]
	}
	// Keep the buffers for the next swap, without the strings they hold.
	clear(q)
	clear(a)
	e.mu.Lock()
	e.spareQ, e.spareA = q[:0], a[:0]
	e.mu.Unlock()
}

// post sends one batch, retrying what a collector says is temporary (429,
// 502, 503, 504, honouring Retry-After) and connection failures, all within
// Options.Timeout. Failures are counted and logged when export goes from
// working to failing, and back.
func (e *Exporter) post(spans []trace.Span) {
	err := e.postBody(e.enc.encode(spans))
	if err != nil {
		e.failed.Add(uint64(len(spans)))
		// Log the change of state, not every batch: a collector that is down
		// would otherwise log once per batch at full traffic.
		if !e.failing.Swap(true) {
			e.log.Warn("trace export failing", "error", err, "spans", len(spans))
		}
		return
	}
	if e.failing.Swap(false) {
		e.log.Info("trace export recovered", "failed_spans", e.failed.Load())
	}
}

func (e *Exporter) postBody(body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	backoff := min(time.Second, e.timeout/4)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header = e.header.Clone()
		wait := backoff
		resp, err := e.client.Do(req)
		if err == nil {
			// Drain a little so the connection can be reused; a collector's
			// answer to a success carries nothing edged uses.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK, http.StatusAccepted, http.StatusNoContent:
				return nil
			case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable,
				http.StatusGatewayTimeout:
				err = fmt.Errorf("collector answered %s", resp.Status)
				if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
					wait = max(wait, time.Duration(s)*time.Second)
				}
			default:
				return fmt.Errorf("collector answered %s", resp.Status)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// Dropped returns how many spans were not exported because the queue was
// full (or their ids were zero) since New.
func (e *Exporter) Dropped() uint64 { return e.dropped.Load() }

// Failed returns how many spans were sent but not accepted by the
// collector (an error status, a timeout, a refused connection) since New.
func (e *Exporter) Failed() uint64 { return e.failed.Load() }

// Flush sends every span queued so far and waits for the export, or for
// ctx. It returns ctx's error if ctx ends first; an export failure is
// counted by Failed, not returned. After Shutdown it returns nil.
func (e *Exporter) Flush(ctx context.Context) error {
	ch := make(chan struct{})
	select {
	case e.flushReq <- ch:
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown stops accepting spans, sends those still queued, and closes idle
// connections to the collector. It waits for that, or for ctx: when ctx ends
// first it returns ctx's error, and the last export goes on in the
// background for at most Options.Timeout per batch. Calling it again waits
// the same way and returns nil once the exporter has stopped.
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.closed.Store(true)
	e.stop.Do(func() { close(e.quit) })
	select {
	case <-e.done:
		e.client.CloseIdleConnections()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
