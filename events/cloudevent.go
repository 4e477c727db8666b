//go:build !noevents

package events

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// CloudEvents attributes travel as `ce-` headers in binary mode, on NATS
// messages as on the HTTP request handed to an Invoker.
const (
	HeaderID          = "ce-id"
	HeaderSource      = "ce-source"
	HeaderType        = "ce-type"
	HeaderSpecVersion = "ce-specversion"
	HeaderTime        = "ce-time"
	HeaderSubject     = "ce-subject"
	// HeaderPartitionKey carries the ordering key: the CloudEvents
	// partitioning extension `partitionkey`. Triggers with ordering "key"
	// process events with the same key one at a time, in order.
	HeaderPartitionKey = "ce-partitionkey"
	HeaderTraceParent  = "traceparent"
	headerTraceState   = "tracestate"
	headerContentType  = "Content-Type"
	specVersion        = "1.0"
	// maxAttrLen bounds every CloudEvents attribute taken from a message.
	maxAttrLen = 1024
)

// Event is a CloudEvent as edged publishes it.
type Event struct {
	// ID is unique per Source; Publish draws a random one when empty.
	ID string
	// Source identifies the producer; default Options.Source.
	Source string
	// Type is the CloudEvents type, e.g. "com.example.order.created".
	Type string
	// Subject is the optional CloudEvents subject (not the NATS subject).
	Subject string
	// Time is the occurrence time; default now.
	Time time.Time
	// ContentType is the media type of Data, e.g. "application/json".
	ContentType string
	// OrderingKey, when set, orders events on triggers with ordering "key".
	OrderingKey string
	// TraceParent is the W3C traceparent of the publisher, so the trace
	// continues in the consumer; PublishEvent takes the one of its context
	// (WithTraceParent) when empty.
	TraceParent string
	// TraceState is the W3C tracestate beside TraceParent.
	TraceState string
	// Data is the payload.
	Data []byte
}

// eventKey is the identity of an event for deduplication: CloudEvents says
// source + id is unique. The NATS message id is the readable form; KV keys
// use a hash because sources hold characters keys may not.
func eventKey(source, id string) string { return source + " " + id }

func kvKey(source, id string) string {
	sum := sha256.Sum256([]byte(source + "\x00" + id))
	return hex.EncodeToString(sum[:16])
}

func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func (e Event) header() nats.Header {
	h := nats.Header{}
	h.Set(HeaderSpecVersion, specVersion)
	h.Set(HeaderID, e.ID)
	h.Set(HeaderSource, e.Source)
	h.Set(HeaderType, e.Type)
	h.Set(HeaderTime, e.Time.UTC().Format(time.RFC3339Nano))
	setIf(h, HeaderSubject, e.Subject)
	setIf(h, headerContentType, e.ContentType)
	setIf(h, HeaderPartitionKey, e.OrderingKey)
	setIf(h, HeaderTraceParent, e.TraceParent)
	if e.TraceParent != "" {
		setIf(h, headerTraceState, e.TraceState)
	}
	h.Set(nats.MsgIdHdr, eventKey(e.Source, e.ID))
	return h
}

func setIf(h nats.Header, k, v string) {
	if v != "" {
		h.Set(k, v)
	}
}

// ErrInvalidEvent is wrapped by errors about events that are not valid
// CloudEvents or exceed the body cap; such events are dead-lettered.
var ErrInvalidEvent = errors.New("invalid event")

// received is what a trigger reads from a message before invoking.
type received struct {
	id, source, typ, orderingKey, traceParent string
}

// parseEvent checks the binary-mode attributes of a message and the body
// cap. Every header value is bounded and must be printable.
func parseEvent(h nats.Header, data []byte, maxBody int64) (received, error) {
	r := received{
		id:          h.Get(HeaderID),
		source:      h.Get(HeaderSource),
		typ:         h.Get(HeaderType),
		orderingKey: h.Get(HeaderPartitionKey),
		traceParent: h.Get(HeaderTraceParent),
	}
	if v := h.Get(HeaderSpecVersion); v != specVersion {
		return r, fmt.Errorf("%w: %s %q, want %q", ErrInvalidEvent, HeaderSpecVersion, clip(v), specVersion)
	}
	for _, a := range []struct{ name, v string }{{HeaderID, r.id}, {HeaderSource, r.source}, {HeaderType, r.typ}} {
		if a.v == "" {
			return r, fmt.Errorf("%w: missing %s", ErrInvalidEvent, a.name)
		}
	}
	for k, vs := range h {
		if !hasPrefixFold(k, "ce-") && !strings.EqualFold(k, HeaderTraceParent) {
			continue
		}
		for _, v := range vs {
			if len(v) > maxAttrLen || !printable(v) {
				return r, fmt.Errorf("%w: attribute %s too long or not printable", ErrInvalidEvent, clip(k))
			}
		}
	}
	if t := h.Get(HeaderTime); t != "" {
		if _, err := time.Parse(time.RFC3339Nano, t); err != nil {
			return r, fmt.Errorf("%w: %s %q is not RFC 3339", ErrInvalidEvent, HeaderTime, clip(t))
		}
	}
	if int64(len(data)) > maxBody {
		return r, fmt.Errorf("%w: data of %d bytes exceeds the body cap of %d", ErrInvalidEvent, len(data), maxBody)
	}
	return r, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// clip makes untrusted text safe for a header or log: printable ASCII, at
// most 256 bytes.
func clip(s string) string {
	const maxLen = 256
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	b := []byte(s)
	for i, c := range b {
		if c < ' ' || c >= 0x7f {
			b[i] = '?'
		}
	}
	return string(b)
}

// request builds the CloudEvents binary-mode HTTP request for a message:
// every `ce-` header, Content-Type, traceparent and tracestate are copied,
// the body is the data. The path is "/" and the method POST. It runs once per
// delivery, so the values share one backing array and the usual names are
// canonicalized without allocating.
func request(ctx context.Context, h nats.Header, data []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", &eventBody{Reader: bytes.NewReader(data)})
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(data))
	n := 0
	for k, vs := range h {
		if forwarded(k) {
			n += len(vs)
		}
	}
	vals := make([]string, 0, n)
	req.Header = make(http.Header, n)
	for k, vs := range h {
		if !forwarded(k) {
			continue
		}
		ck := canonicalKey(k)
		if old, ok := req.Header[ck]; ok { // the same name in two cases
			req.Header[ck] = append(old[:len(old):len(old)], vs...)
			continue
		}
		start := len(vals)
		vals = append(vals, vs...)
		// Capped, so that an Invoker appending to one value does not
		// write over the next.
		req.Header[ck] = vals[start:len(vals):len(vals)]
	}
	return req, nil
}

// eventBody is a request body over an event's data: one allocation where
// io.NopCloser over a bytes.Reader takes two.
type eventBody struct{ *bytes.Reader }

// Close does nothing: the data belongs to the message.
func (eventBody) Close() error { return nil }

// forwarded reports whether a message header is part of the request.
func forwarded(k string) bool {
	return hasPrefixFold(k, "ce-") || strings.EqualFold(k, HeaderTraceParent) ||
		strings.EqualFold(k, headerTraceState) || strings.EqualFold(k, headerContentType)
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey, without an allocation
// for the names edged publishes.
func canonicalKey(k string) string {
	switch k {
	case HeaderID:
		return "Ce-Id"
	case HeaderSource:
		return "Ce-Source"
	case HeaderType:
		return "Ce-Type"
	case HeaderSpecVersion:
		return "Ce-Specversion"
	case HeaderTime:
		return "Ce-Time"
	case HeaderSubject:
		return "Ce-Subject"
	case HeaderPartitionKey:
		return "Ce-Partitionkey"
	case HeaderTraceParent:
		return canonicalTraceParent
	case headerTraceState:
		return canonicalTraceState
	}
	return textproto.CanonicalMIMEHeaderKey(k)
}

// The canonical forms of the trace headers, to read them from an
// http.Header without canonicalizing on every read.
const (
	canonicalTraceParent = "Traceparent"
	canonicalTraceState  = "Tracestate"
)

// hasPrefixFold is strings.HasPrefix ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// traceID returns the trace id of a W3C traceparent, or "".
func traceID(tp string) string {
	parts := strings.Split(tp, "-")
	if len(parts) == 4 && len(parts[1]) == 32 {
		return parts[1]
	}
	return ""
}
