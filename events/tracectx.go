package events

import (
	"context"

	"github.com/edged/edged/trace"
)

// traceCtxKey keys the trace context of the span handling an event (or a
// request) in a context.Context.
type traceCtxKey struct{}

type traceCtx struct{ parent, state string }

// WithTraceParent returns ctx carrying a W3C traceparent (and tracestate,
// may be empty): the span whose work publishes events, such as the function
// handling a request. Publish and PublishEvent set it on the events they
// publish (unless the Event has its own), so the trigger that consumes them
// continues that trace. An invalid traceparent is not carried.
//
// A trigger calls its Invoker with such a context, naming the span of the
// delivery: an event the function publishes while it runs joins the trace of
// the event it handles.
func WithTraceParent(ctx context.Context, traceparent, tracestate string) context.Context {
	if _, ok := trace.ParseTraceparent([]byte(traceparent)); !ok {
		return ctx
	}
	if !trace.ValidTracestate([]byte(tracestate)) {
		tracestate = ""
	}
	return context.WithValue(ctx, traceCtxKey{}, traceCtx{traceparent, tracestate})
}

// TraceParentFrom returns the traceparent and tracestate WithTraceParent put
// in ctx, or empty strings.
func TraceParentFrom(ctx context.Context) (traceparent, tracestate string) {
	tc, _ := ctx.Value(traceCtxKey{}).(traceCtx)
	return tc.parent, tc.state
}
