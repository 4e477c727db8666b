// Package otlp exports the spans edged records to an OpenTelemetry
// collector over OTLP/HTTP (protobuf).
//
// The router records spans itself, as plain trace.Span values (package
// trace imports only the standard library), so that the request path does
// not depend on OpenTelemetry. This package is the bridge: an *Exporter
// implements trace.Exporter and trace.ExporterStats, batches the spans in a
// bounded queue and sends each batch as an OTLP ExportTraceServiceRequest,
// protobuf-encoded by the package itself with google.golang.org/protobuf's
// protowire (the tests decode it with the official OTLP Go types). It once went through the OpenTelemetry SDK (span
// snapshots, its batch span processor and OTLP/HTTP exporter); that path
// cost 10–17 µs of CPU per request on the cheapest routes, this one about
// 3.5. The daemon builds one Exporter per configuration generation from the
// [tracing] section of router.toml when an endpoint is configured, gives it
// to the router, and shuts it down when the generation retires.
//
// ExportSpans never blocks a request: it copies the spans into a bounded
// queue and returns. When the queue is full (the collector is slow, down or
// hanging) the spans of that call are dropped whole, so a trace the
// collector receives is never missing part of a request, and Dropped counts
// them. Export failures are logged on the transition from working to failing
// and back, not per batch, and are counted by Failed.
//
// The package keeps no global state: it does not install a global
// TracerProvider or error handler. Header values (often API keys) are never
// logged.
package otlp
