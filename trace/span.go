package trace

import "time"

// Kind is the role of a Span, as OpenTelemetry names them.
type Kind uint8

// Span kinds.
const (
	KindInternal Kind = iota // work inside edged (route match, invoke)
	KindServer               // the request as edged received it
	KindClient               // a request edged sent (legacy proxy, guest fetch)
	KindConsumer             // an event edged took from a queue and delivered to a function
)

// Attr is one attribute of a Span: a string, or an integer when IsInt is set.
type Attr struct {
	Key   string
	Str   string
	Int   int64
	IsInt bool
}

// Str returns a string attribute.
func Str(k, v string) Attr { return Attr{Key: k, Str: v} }

// Int returns an integer attribute.
func Int(k string, v int64) Attr { return Attr{Key: k, Int: v, IsInt: true} }

// Span is one finished span of a sampled request, with W3C Trace Context
// identifiers. A Span's fields are only valid during Exporter.ExportSpans.
type Span struct {
	TraceID ID
	SpanID  SpanID
	// ParentID is zero for a root span. RemoteParent is set when it came
	// from the client's traceparent.
	ParentID     SpanID
	RemoteParent bool
	// TraceState is the tracestate the request carried, passed on unchanged.
	TraceState string
	Name       string
	Kind       Kind
	Start, End time.Time
	Attrs      []Attr
	// Err, when not empty, marks the span failed and says why.
	Err string
}

// Exporter receives the spans of sampled requests, with all spans of a
// request (or of a background shadow mirror) in one call. ExportSpans runs on
// the request's goroutine: it must not block, and it must copy what it keeps,
// since spans and their slices are reused after it returns.
type Exporter interface {
	ExportSpans(spans []Span)
}

// ExporterStats is implemented by exporters that count the spans they could
// not deliver; the router then reports them as
// edged_tracing_spans_dropped_total and edged_tracing_spans_failed_total.
type ExporterStats interface {
	// Dropped counts spans refused because the export queue was full.
	Dropped() uint64
	// Failed counts spans the collector did not accept.
	Failed() uint64
}
