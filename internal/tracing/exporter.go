package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/edged/edged/router"
)

// Defaults of Options.
const (
	DefaultServiceName = "edged"
	DefaultTimeout     = 10 * time.Second
	DefaultQueueSize   = 2048

	// defaultPath is the OTLP/HTTP traces path, appended to an endpoint
	// given without one.
	defaultPath = "/v1/traces"
	// maxBatch is the SDK's default export batch; smaller queues export in
	// batches of their own size.
	maxBatch = sdktrace.DefaultMaxExportBatchSize
	// scopeName is the instrumentation scope of every span: the package
	// that records them.
	scopeName = "github.com/edged/edged/router"
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
	// key. They are copied; values are never logged. Nil means none (the
	// OTEL_EXPORTER_OTLP_HEADERS environment variable then applies, as it
	// does for the other OTLP settings Options does not cover).
	Headers map[string]string
	// ServiceName is the service.name resource attribute. Default "edged".
	ServiceName string
	// ServiceVersion is the service.version resource attribute; empty
	// leaves it out.
	ServiceVersion string
	// Timeout bounds one export (one batch), retries of 429/502/503/504
	// included. Default 10s; must not be negative.
	Timeout time.Duration
	// QueueSize caps the spans held for export, queued or being sent.
	// Above it, new spans are dropped. Default 2048; must not be negative.
	QueueSize int
	// Logger receives export failures and recoveries; nil discards them.
	Logger *slog.Logger
}

// Exporter sends router spans to an OTLP/HTTP collector in batches. It
// implements router.SpanExporter. All methods are safe for concurrent use.
type Exporter struct {
	bsp   sdktrace.SpanProcessor
	res   *resource.Resource
	scope instrumentation.Scope
	log   *slog.Logger
	limit int64

	// pending counts the spans given to bsp and not yet through the OTLP
	// exporter (queued, batched or being sent). Keeping it at most limit
	// means the processor's queue, whose capacity is limit, never overflows,
	// so every drop happens (and is counted) here.
	pending atomic.Int64
	dropped atomic.Uint64
	failed  atomic.Uint64
	failing atomic.Bool
	closed  atomic.Bool
}

var _ router.SpanExporter = (*Exporter)(nil)

// New returns an Exporter that sends to o.Endpoint. It does not contact the
// collector: an unreachable collector shows up later, as logged failures
// and Failed. New returns an error wrapping ErrEndpoint or ErrOptions for
// bad options. Call Shutdown when done.
func New(ctx context.Context, o Options) (*Exporter, error) {
	host, path, insecure, err := parseEndpoint(o.Endpoint)
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

	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpoint(host),
		otlptracehttp.WithURLPath(path),
		otlptracehttp.WithTimeout(o.Timeout),
		// The SDK's default retries for a minute; a batch must give way to
		// the next one within Timeout.
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{
			Enabled:         true,
			InitialInterval: min(time.Second, o.Timeout/4),
			MaxInterval:     5 * time.Second,
			MaxElapsedTime:  o.Timeout,
		}),
	}
	if insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	if o.Headers != nil {
		opts = append(opts, otlptracehttp.WithHeaders(maps.Clone(o.Headers)))
	}
	otlp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}

	attrs := []attribute.KeyValue{attribute.String("service.name", o.ServiceName)}
	if o.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", o.ServiceVersion))
	}
	e := &Exporter{
		res:   resource.NewSchemaless(attrs...),
		scope: instrumentation.Scope{Name: scopeName},
		log:   log,
		limit: int64(o.QueueSize),
	}
	e.bsp = sdktrace.NewBatchSpanProcessor(sink{e: e, next: otlp},
		sdktrace.WithMaxQueueSize(o.QueueSize),
		sdktrace.WithMaxExportBatchSize(min(maxBatch, o.QueueSize)),
		sdktrace.WithExportTimeout(o.Timeout),
	)
	return e, nil
}

// parseEndpoint splits an endpoint URL into what otlptracehttp takes. Its
// errors quote the URL with any user info redacted.
func parseEndpoint(s string) (host, path string, insecure bool, err error) {
	u, perr := url.Parse(s)
	var why string
	switch {
	case s == "":
		why = "empty"
	case perr != nil:
		return "", "", false, fmt.Errorf("endpoint: %w", ErrEndpoint)
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
		return "", "", false, fmt.Errorf("endpoint %q: %s: %w", u.String(), why, ErrEndpoint)
	}
	path = u.EscapedPath()
	if path == "" || path == "/" {
		path = defaultPath
	}
	return u.Host, path, u.Scheme == "http", nil
}

// ExportSpans queues spans for export and returns at once: it implements
// router.SpanExporter. The spans are copied (their strings are kept, as
// strings are immutable; their attribute slices are not). If the queue
// cannot take all of them, none is queued and all count as dropped; spans
// with a zero trace or span id are dropped too. After Shutdown it does
// nothing.
func (e *Exporter) ExportSpans(spans []router.Span) {
	if len(spans) == 0 || e.closed.Load() {
		return
	}
	n := int64(len(spans))
	if e.pending.Add(n) > e.limit {
		e.pending.Add(-n)
		e.dropped.Add(uint64(n))
		return
	}
	nattrs := 0
	for i := range spans {
		nattrs += len(spans[i].Attrs)
	}
	// One backing array for the attributes of the whole call.
	attrs := make([]attribute.KeyValue, 0, nattrs)
	var (
		state    trace.TraceState
		stateRaw string
	)
	for i := range spans {
		s := &spans[i]
		if s.TraceID.IsZero() || s.SpanID.IsZero() {
			e.pending.Add(-1)
			e.dropped.Add(1)
			continue
		}
		// The spans of one call share the request's tracestate: parse it
		// once.
		if s.TraceState != stateRaw {
			stateRaw = s.TraceState
			var err error
			if state, err = trace.ParseTraceState(stateRaw); err != nil {
				state = trace.TraceState{}
			}
		}
		from := len(attrs)
		for _, a := range s.Attrs {
			if a.IsInt {
				attrs = append(attrs, attribute.Int64(a.Key, a.Int))
			} else {
				attrs = append(attrs, attribute.String(a.Key, a.Str))
			}
		}
		stub := tracetest.SpanStub{
			Name: s.Name,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
				TraceID:    trace.TraceID(s.TraceID),
				SpanID:     trace.SpanID(s.SpanID),
				TraceFlags: trace.FlagsSampled,
				TraceState: state,
			}),
			SpanKind:             spanKind(s.Kind),
			StartTime:            s.Start,
			EndTime:              s.End,
			Attributes:           attrs[from:len(attrs):len(attrs)],
			Resource:             e.res,
			InstrumentationScope: e.scope,
		}
		if !s.ParentID.IsZero() {
			stub.Parent = trace.NewSpanContext(trace.SpanContextConfig{
				TraceID:    trace.TraceID(s.TraceID),
				SpanID:     trace.SpanID(s.ParentID),
				TraceFlags: trace.FlagsSampled,
				TraceState: state,
				Remote:     s.RemoteParent,
			})
		}
		if s.Err != "" {
			stub.Status = sdktrace.Status{Code: codes.Error, Description: s.Err}
		}
		e.bsp.OnEnd(stub.Snapshot())
	}
}

func spanKind(k router.SpanKind) trace.SpanKind {
	switch k {
	case router.SpanServer:
		return trace.SpanKindServer
	case router.SpanClient:
		return trace.SpanKindClient
	default:
		return trace.SpanKindInternal
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
// counted by Failed, not returned.
func (e *Exporter) Flush(ctx context.Context) error {
	return e.bsp.ForceFlush(ctx)
}

// Shutdown stops accepting spans, sends those still queued, and closes the
// connection to the collector. It waits for that, or for ctx: when ctx ends
// first it returns ctx's error, and the last export goes on in the
// background for at most Options.Timeout. Calling it again does nothing and
// returns nil.
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.closed.Store(true)
	return e.bsp.Shutdown(ctx)
}

// sink counts what leaves the batch processor and logs export failures. It
// returns nil to the processor, which would otherwise report the error a
// second time through OpenTelemetry's global error handler.
type sink struct {
	e    *Exporter
	next sdktrace.SpanExporter
}

func (s sink) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := s.next.ExportSpans(ctx, spans)
	s.e.pending.Add(-int64(len(spans)))
	if err != nil {
		s.e.failed.Add(uint64(len(spans)))
		// Log the change of state, not every batch: a collector that is down
		// would otherwise log once per batch at full traffic.
		if !s.e.failing.Swap(true) {
			s.e.log.Warn("trace export failing", "error", err, "spans", len(spans))
		}
		return nil
	}
	if s.e.failing.Swap(false) {
		s.e.log.Info("trace export recovered", "failed_spans", s.e.failed.Load())
	}
	return nil
}

func (s sink) Shutdown(ctx context.Context) error { return s.next.Shutdown(ctx) }
