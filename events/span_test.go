package events

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/edged/edged/trace"
)

// spanRecorder is a trace.Exporter keeping copies of the spans.
type spanRecorder struct {
	mu    sync.Mutex
	spans []trace.Span
}

func (r *spanRecorder) ExportSpans(spans []trace.Span) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range spans {
		s.Attrs = slices.Clone(s.Attrs)
		r.spans = append(r.spans, s)
	}
}

func (r *spanRecorder) got() []trace.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

// TestEventSpan: an event published with a sampled traceparent is invoked
// under a span "edged.event" (kind consumer) that continues the publisher's trace (same
// trace id, the publisher's span as parent), and the function is told that
// span as its parent; an unsampled or absent traceparent records nothing.
func TestEventSpan(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		parent  = "00f067aa0ba902b7"
	)
	tests := []struct {
		name, traceParent, verdict string
		wantSpan                   bool
	}{
		{"sampled", "00-" + traceID + "-" + parent + "-01", "ok", true},
		{"sampled, function fails for good", "00-" + traceID + "-" + parent + "-01", "dead", true},
		{"not sampled", "00-" + traceID + "-" + parent + "-00", "ok", false},
		{"no traceparent", "", "ok", false},
		{"invalid traceparent", "00-zz-" + parent + "-01", "ok", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			exp := &spanRecorder{}
			s := openTest(t, t.TempDir(), Options{Exporter: exp})
			rec := newRecorder(func(call, int) (int, http.Header, error) {
				if tc.verdict == "dead" {
					return StatusDeadLetter, nil, nil
				}
				return http.StatusOK, nil, nil
			})
			sub, err := s.Subscribe(ctx, Trigger{Name: "jobs", Subject: "jobs"}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PublishEvent(ctx, "jobs", &Event{ID: "e1", Type: "job", TraceParent: tc.traceParent}); err != nil {
				t.Fatal(err)
			}
			c := rec.next(t)
			eventually(t, "event settled", settled(t, sub))
			spans := exp.got()
			if !tc.wantSpan {
				if len(spans) != 0 {
					t.Fatalf("spans = %+v, want none", spans)
				}
				if c.traceParent != tc.traceParent {
					t.Errorf("function's traceparent = %q, want the publisher's %q", c.traceParent, tc.traceParent)
				}
				return
			}
			if len(spans) != 1 {
				t.Fatalf("spans = %+v, want one", spans)
			}
			sp := spans[0]
			if sp.Name != "edged.event" || sp.Kind != trace.KindConsumer || sp.TraceID.String() != traceID ||
				sp.ParentID.String() != parent || !sp.RemoteParent || sp.SpanID.IsZero() || sp.End.Before(sp.Start) {
				t.Errorf("span = %+v, want edged.event under %s in trace %s", sp, parent, traceID)
			}
			if want := "00-" + traceID + "-" + sp.SpanID.String() + "-01"; c.traceParent != want {
				t.Errorf("function's traceparent = %q, want %q (the event span as parent)", c.traceParent, want)
			}
			if failed := sp.Err != ""; failed != (tc.verdict == "dead") {
				t.Errorf("span Err = %q for verdict %s", sp.Err, tc.verdict)
			}
		})
	}
}

// TestPublishJoinsDeliveryTrace: an event a function publishes while it
// handles an event (Publish with the Invoker's context) carries the
// traceparent of that delivery, so the trigger consuming it records its
// span in the same trace, under the first delivery's span. An unsampled
// trace is carried on unsampled; an event without a traceparent publishes
// one without.
func TestPublishJoinsDeliveryTrace(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		parent  = "00f067aa0ba902b7"
	)
	tests := []struct {
		name, traceParent, traceState string
		wantSpans                     bool
	}{
		{"sampled", "00-" + traceID + "-" + parent + "-01", "vendor=a", true},
		{"not sampled", "00-" + traceID + "-" + parent + "-00", "", false},
		{"no traceparent", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			exp := &spanRecorder{}
			s := openTest(t, t.TempDir(), Options{Exporter: exp})
			first := newRecorder(func(call, int) (int, http.Header, error) { return http.StatusOK, nil, nil })
			// The first trigger's function publishes on "next" with the
			// context it was invoked with, as a guest's publish does.
			fanOut := InvokerFunc(func(ctx context.Context, req *http.Request) (int, http.Header, error) {
				if _, err := s.Publish(ctx, "next", "job.next", []byte("{}")); err != nil {
					return http.StatusInternalServerError, nil, err
				}
				return first.Invoke(ctx, req)
			})
			second := newRecorder(nil)
			subs := []struct {
				t   Trigger
				inv Invoker
			}{{Trigger{Name: "jobs", Subject: "jobs"}, fanOut}, {Trigger{Name: "next", Subject: "next"}, second}}
			for _, sc := range subs {
				if _, err := s.Subscribe(ctx, sc.t, sc.inv); err != nil {
					t.Fatal(err)
				}
			}
			ev := &Event{ID: "e1", Type: "job", TraceParent: tc.traceParent, TraceState: tc.traceState}
			if err := s.PublishEvent(ctx, "jobs", ev); err != nil {
				t.Fatal(err)
			}
			c1 := first.next(t)
			c2 := second.next(t)
			if tc.traceParent == "" {
				if c2.traceParent != "" {
					t.Errorf("published event's traceparent = %q, want none", c2.traceParent)
				}
				return
			}
			if !tc.wantSpans {
				// Carried as the first function saw it: same trace, unsampled.
				if c2.traceParent[:36] != c1.traceParent[:36] || !strings.HasSuffix(c2.traceParent, "-00") {
					t.Errorf("published event's traceparent = %q, want the trace of %q, unsampled", c2.traceParent, c1.traceParent)
				}
				if spans := exp.got(); len(spans) != 0 {
					t.Errorf("spans = %+v, want none", spans)
				}
				return
			}
			var spans []trace.Span
			eventually(t, "two spans exported", func() bool { spans = exp.got(); return len(spans) == 2 })
			byTrigger := map[string]trace.Span{}
			for _, sp := range spans {
				for _, a := range sp.Attrs {
					if a.Key == "edged.trigger" {
						byTrigger[a.Str] = sp
					}
				}
			}
			jobs, next := byTrigger["jobs"], byTrigger["next"]
			if jobs.TraceID.String() != traceID || jobs.ParentID.String() != parent {
				t.Fatalf("span of jobs = %+v, want in trace %s under %s", jobs, traceID, parent)
			}
			if next.TraceID != jobs.TraceID || next.ParentID != jobs.SpanID || !next.RemoteParent || next.Kind != trace.KindConsumer {
				t.Errorf("span of next = %+v, want a consumer span under the span of jobs %s in trace %s", next, jobs.SpanID, traceID)
			}
			if next.TraceState != tc.traceState {
				t.Errorf("span of next tracestate = %q, want %q", next.TraceState, tc.traceState)
			}
		})
	}
}
