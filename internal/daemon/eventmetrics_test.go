package daemon

import (
	"sync/atomic"
	"testing"

	"github.com/edged/edged/router"
	"github.com/edged/edged/trace"
)

type spanCount struct{ n int }

func (c *spanCount) ExportSpans(spans []trace.Span) { c.n += len(spans) }

// TestWorldExporter: event spans go to the exporter of the World installed
// at the time, and to nowhere (without a panic) before one is installed or
// when it has no tracing.
func TestWorldExporter(t *testing.T) {
	var w atomic.Pointer[router.World]
	e := worldExporter{&w}
	spans := []trace.Span{{Name: "edged.event"}}
	e.ExportSpans(spans) // no World yet
	w.Store(&router.World{})
	e.ExportSpans(spans) // no tracing
	first, second := &spanCount{}, &spanCount{}
	w.Store(&router.World{Tracing: &router.Tracing{Exporter: first}})
	e.ExportSpans(spans)
	w.Store(&router.World{Tracing: &router.Tracing{Exporter: second}}) // a reload
	e.ExportSpans(spans)
	e.ExportSpans(spans)
	if first.n != 1 || second.n != 2 {
		t.Errorf("exported %d then %d spans, want 1 then 2", first.n, second.n)
	}
}
