package events

import (
	"context"
	"net/http"
	"slices"
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
// under a span "edged.event" that continues the publisher's trace (same
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
			if sp.Name != "edged.event" || sp.Kind != trace.KindServer || sp.TraceID.String() != traceID ||
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
