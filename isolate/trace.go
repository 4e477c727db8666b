package isolate

import (
	"context"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"
)

// InvocationTrace is a set of hooks that follow one invocation, for
// distributed tracing, in the manner of net/http/httptrace: attach one to the
// context passed to Handle with WithInvocationTrace. Every hook is optional
// and runs on the goroutine that called Handle, before Handle returns. The
// package itself knows nothing of trace formats or exporters: the router
// records spans from these hooks.
type InvocationTrace struct {
	// Acquired is called once Handle has an instance, or failed to get one
	// (err set). cold reports whether the instance was instantiated for this
	// invocation; start to end covers waiting for a pool slot and
	// instantiating.
	Acquired func(cold bool, start, end time.Time, err error)
	// Called is called after each guest export returns ("handle_request",
	// then "handle_response" when the guest continued to next), with the
	// time the guest ran and the export's error.
	Called func(export string, start, end time.Time, err error)
	// Fetch is called before a guest's subrequest is sent, after the host
	// accepted its method, URL and headers and before the egress policy
	// checks its destination. It may set headers on req, such as
	// traceparent. The function it returns, if not nil, is called when the
	// subrequest has an answer (status) or failed (err).
	Fetch func(req *http.Request) func(status int, err error)
	// Publish is called when a guest's edged.publish has passed the host's
	// checks, before the Publisher stores the event. It returns the W3C
	// traceparent (and tracestate) the event is to carry, naming the span
	// that handles the invocation, so the consumer of the event continues
	// the trace; the Publisher reads them with PublishTrace.
	Publish func() (traceparent, tracestate string)
	// TraceID, when not all zero, is added in hex as "trace_id" to the log
	// lines of the invocation: guest log calls, guest output and failed
	// fetches. It is a W3C trace-id; bytes, so that a request that logs
	// nothing pays nothing for it.
	TraceID [16]byte
}

type traceKey struct{}

// WithInvocationTrace returns a context carrying t for Handle. A context
// built once can be reused for many invocations when t's fields are set
// before each: Handle reads them only while it runs.
func WithInvocationTrace(ctx context.Context, t *InvocationTrace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// invocationTrace returns ctx's InvocationTrace, or nil. The plain background
// context answers without a lookup.
func invocationTrace(ctx context.Context) *InvocationTrace {
	if ctx == context.Background() {
		return nil
	}
	t, _ := ctx.Value(traceKey{}).(*InvocationTrace)
	return t
}

type publishTraceKey struct{}

type publishTrace struct{ parent, state string }

// PublishTrace returns the traceparent and tracestate InvocationTrace.Publish
// gave for the event a Publisher is called with (ctx is the context of
// Publisher.Publish), or empty strings when the invocation has no trace.
func PublishTrace(ctx context.Context) (traceparent, tracestate string) {
	pt, _ := ctx.Value(publishTraceKey{}).(publishTrace)
	return pt.parent, pt.state
}

// at converts a runtime.now reading to a wall-clock time.
func (r *Runtime) at(n int64) time.Time { return r.epoch.Add(time.Duration(n)) }

// logAttrs returns attrs plus the trace id of inst's invocation, if it has one.
func (inst *instance) logAttrs(attrs ...slog.Attr) []slog.Attr {
	if t := inst.trace; t != nil && t.TraceID != ([16]byte{}) {
		attrs = append(attrs, slog.String("trace_id", hex.EncodeToString(t.TraceID[:])))
	}
	return attrs
}
