package otlp

import (
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/edged/edged/trace"
)

// The OTLP trace protobuf, as much of it as edged writes
// (opentelemetry-proto, opentelemetry/proto/trace/v1/trace.proto and
// collector/trace/v1/trace_service.proto). Field numbers are the wire
// contract; the tests decode what is written here with the official Go types.
const (
	fieldRequestResourceSpans = 1 // ExportTraceServiceRequest.resource_spans

	fieldResourceSpansResource   = 1 // ResourceSpans.resource
	fieldResourceSpansScopeSpans = 2 // ResourceSpans.scope_spans

	fieldResourceAttributes = 1 // Resource.attributes

	fieldScopeSpansScope = 1 // ScopeSpans.scope
	fieldScopeSpansSpans = 2 // ScopeSpans.spans

	fieldScopeName = 1 // InstrumentationScope.name

	fieldSpanTraceID    = 1
	fieldSpanSpanID     = 2
	fieldSpanTraceState = 3
	fieldSpanParentID   = 4
	fieldSpanName       = 5
	fieldSpanKind       = 6
	fieldSpanStart      = 7 // fixed64 Unix ns
	fieldSpanEnd        = 8 // fixed64 Unix ns
	fieldSpanAttributes = 9
	fieldSpanStatus     = 15
	fieldSpanFlags      = 16 // fixed32

	fieldStatusMessage = 2
	fieldStatusCode    = 3

	fieldKeyValueKey   = 1
	fieldKeyValueValue = 2

	fieldAnyString = 1 // AnyValue.string_value
	fieldAnyInt    = 3 // AnyValue.int_value

	spanKindInternal = 1
	spanKindServer   = 2
	spanKindClient   = 3
	spanKindConsumer = 5 // SPAN_KIND_CONSUMER; 4 is PRODUCER, which edged does not record

	statusCodeError = 2

	// Span.flags: the W3C trace flags in the low byte, and whether the
	// parent was remote (SpanFlags in trace.proto).
	flagSampled     = 0x01
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// maxStringBytes bounds one string written into a span (a name, an
// attribute value, a status message): values that come from requests must
// not make one span, or one batch, arbitrarily large.
const maxStringBytes = 4096

// cleanString returns s as protobuf accepts it: valid UTF-8 (a decoder
// refuses the whole message otherwise, and request paths are bytes from a
// client), at most maxStringBytes.
func cleanString(s string) string {
	if len(s) > maxStringBytes {
		s = s[:maxStringBytes]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, cleanString(s))
}

func sizeStringField(num protowire.Number, s string) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(len(cleanString(s)))
}

// appendKeyValue appends a KeyValue message as field num.
func appendKeyValue(b []byte, num protowire.Number, a trace.Attr) []byte {
	var anySize int
	if a.IsInt {
		anySize = protowire.SizeTag(fieldAnyInt) + protowire.SizeVarint(uint64(a.Int))
	} else {
		anySize = sizeStringField(fieldAnyString, a.Str)
	}
	kvSize := sizeStringField(fieldKeyValueKey, a.Key) + protowire.SizeTag(fieldKeyValueValue) + protowire.SizeBytes(anySize)
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(kvSize))
	b = appendStringField(b, fieldKeyValueKey, a.Key)
	b = protowire.AppendTag(b, fieldKeyValueValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(anySize))
	if a.IsInt {
		b = protowire.AppendTag(b, fieldAnyInt, protowire.VarintType)
		return protowire.AppendVarint(b, uint64(a.Int))
	}
	return appendStringField(b, fieldAnyString, a.Str)
}

// appendSpan appends the Span message body of s.
func appendSpan(b []byte, s *trace.Span) []byte {
	b = protowire.AppendTag(b, fieldSpanTraceID, protowire.BytesType)
	b = protowire.AppendBytes(b, s.TraceID[:])
	b = protowire.AppendTag(b, fieldSpanSpanID, protowire.BytesType)
	b = protowire.AppendBytes(b, s.SpanID[:])
	if s.TraceState != "" {
		b = appendStringField(b, fieldSpanTraceState, s.TraceState)
	}
	if !s.ParentID.IsZero() {
		b = protowire.AppendTag(b, fieldSpanParentID, protowire.BytesType)
		b = protowire.AppendBytes(b, s.ParentID[:])
	}
	b = appendStringField(b, fieldSpanName, s.Name)
	kind := uint64(spanKindInternal)
	switch s.Kind {
	case trace.KindServer:
		kind = spanKindServer
	case trace.KindClient:
		kind = spanKindClient
	case trace.KindConsumer:
		kind = spanKindConsumer
	}
	b = protowire.AppendTag(b, fieldSpanKind, protowire.VarintType)
	b = protowire.AppendVarint(b, kind)
	b = protowire.AppendTag(b, fieldSpanStart, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, unixNano(s.Start.UnixNano()))
	b = protowire.AppendTag(b, fieldSpanEnd, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, unixNano(s.End.UnixNano()))
	for _, a := range s.Attrs {
		b = appendKeyValue(b, fieldSpanAttributes, a)
	}
	if s.Err != "" {
		size := sizeStringField(fieldStatusMessage, s.Err) + protowire.SizeTag(fieldStatusCode) + protowire.SizeVarint(statusCodeError)
		b = protowire.AppendTag(b, fieldSpanStatus, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
		b = appendStringField(b, fieldStatusMessage, s.Err)
		b = protowire.AppendTag(b, fieldStatusCode, protowire.VarintType)
		b = protowire.AppendVarint(b, statusCodeError)
	}
	flags := uint32(flagSampled | flagHasIsRemote)
	if s.RemoteParent {
		flags |= flagIsRemote
	}
	b = protowire.AppendTag(b, fieldSpanFlags, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, flags)
}

// unixNano clamps times before 1970 (a zero time.Time) to 0.
func unixNano(n int64) uint64 { return uint64(max(n, 0)) }

// encoder builds ExportTraceServiceRequest bodies. Its buffers are reused
// from batch to batch; it is used by one goroutine.
type encoder struct {
	resource []byte // the ResourceSpans.resource field, encoded once
	scope    []byte // the ScopeSpans.scope field, encoded once
	span     []byte // scratch: one span's body
	spans    []byte // the ScopeSpans.spans fields of the batch
	out      []byte // the request
}

func newEncoder(resource []trace.Attr, scope string) *encoder {
	var res []byte
	for _, a := range resource {
		res = appendKeyValue(res, fieldResourceAttributes, a)
	}
	e := &encoder{}
	e.resource = protowire.AppendTag(nil, fieldResourceSpansResource, protowire.BytesType)
	e.resource = protowire.AppendBytes(e.resource, res)
	sc := appendStringField(nil, fieldScopeName, scope)
	e.scope = protowire.AppendTag(nil, fieldScopeSpansScope, protowire.BytesType)
	e.scope = protowire.AppendBytes(e.scope, sc)
	return e
}

// encode returns the request body carrying spans, valid until the next call.
func (e *encoder) encode(spans []trace.Span) []byte {
	e.spans = e.spans[:0]
	for i := range spans {
		e.span = appendSpan(e.span[:0], &spans[i])
		e.spans = protowire.AppendTag(e.spans, fieldScopeSpansSpans, protowire.BytesType)
		e.spans = protowire.AppendBytes(e.spans, e.span)
	}
	scopeLen := len(e.scope) + len(e.spans)
	rsLen := len(e.resource) + protowire.SizeTag(fieldResourceSpansScopeSpans) + protowire.SizeBytes(scopeLen)
	out := protowire.AppendTag(e.out[:0], fieldRequestResourceSpans, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(rsLen))
	out = append(out, e.resource...)
	out = protowire.AppendTag(out, fieldResourceSpansScopeSpans, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(scopeLen))
	out = append(out, e.scope...)
	out = append(out, e.spans...)
	e.out = out
	return out
}
