// Package trace holds edged's W3C Trace Context and the spans it records. It
// imports only the standard library, so the request path does not depend on
// OpenTelemetry, and every package of edged may use it.
//
// # Trace Context
//
// ParseTraceparent reads a traceparent header into a Context (trace-id,
// parent-id and flags) and rejects what W3C Trace Context level 1 calls
// invalid: version ff, upper-case hex, all-zero identifiers, a version 00
// value of the wrong length. Context.AppendTraceparent writes the version 00
// value for the next hop, naming the span that sends it as the parent.
// ValidTracestate bounds a tracestate (512 bytes, 32 members, the allowed
// characters) before edged passes it on unchanged. NewID and NewSpanID draw
// random, never zero identifiers. None of these allocate.
//
// # Spans
//
// A Span is one finished unit of work of a sampled request, with Attr
// attributes (Str, Int) and a Kind. An Exporter receives all spans of one
// request in one call, on the request's goroutine, so it must neither block
// nor keep the slices it is given; an exporter that counts what it could not
// deliver also implements ExporterStats. internal/otlp is the exporter edged
// ships (OTLP/HTTP); the router builds spans per request and hands them over.
package trace
