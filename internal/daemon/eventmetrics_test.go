package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edged/edged/events"
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

// TestEventMetricsLagFailure: when the consumers cannot be read in time, the
// scrape still succeeds with the counters, without the lag (an invalid
// metric would fail the whole /metrics with a 500).
func TestEventMetricsLagFailure(t *testing.T) {
	ctx := context.Background()
	srv, err := events.Open(ctx, events.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	sub, err := srv.Subscribe(ctx, events.Trigger{Name: "jobs", Subject: "jobs"},
		events.InvokerFunc(func(context.Context, *http.Request) (int, http.Header, error) { return 200, nil, nil }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close(context.Background()) })
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		wantLag bool
	}{
		{"read", lagTimeout, true},
		{"timed out", time.Nanosecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newEventMetrics(slog.New(slog.DiscardHandler))
			m.srv, m.lagTimeout = srv, tc.timeout
			m.init("jobs")
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(m)
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			names := map[string]bool{}
			for _, mf := range mfs {
				names[mf.GetName()] = true
			}
			if !names["edged_events_delivered_total"] || names["edged_events_consumer_lag"] != tc.wantLag {
				t.Errorf("families %v: want the counters, lag %v", names, tc.wantLag)
			}
		})
	}
}
