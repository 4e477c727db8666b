//go:build !noevents

package daemon

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edged/edged/events"
	"github.com/edged/edged/router"
	"github.com/edged/edged/trace"
)

// lagTimeout bounds reading the consumers' pending counts at scrape time:
// a slow or unreachable JetStream makes the scrape lose the lag, not hang.
const lagTimeout = 2 * time.Second

// eventMetrics is the events.Observer of the daemon: Prometheus metrics per
// trigger, registered on the router's registry so the admin /metrics shows
// them, and the consumer lag read from JetStream when scraped.
type eventMetrics struct {
	delivered, acked, retried *prometheus.CounterVec
	dead                      *prometheus.CounterVec
	processing                *prometheus.HistogramVec
	lag                       *prometheus.Desc
	srv                       *events.Server // set once the engine is open
	log                       *slog.Logger
	lagTimeout                time.Duration
}

func newEventMetrics(log *slog.Logger) *eventMetrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edged_events_" + name, Help: help},
			append([]string{"trigger"}, labels...))
	}
	return &eventMetrics{
		delivered: counter("delivered_total", "Events JetStream delivered to the trigger, redeliveries included."),
		acked:     counter("acked_total", "Events the trigger finished (the function answered 2xx) and acknowledged."),
		retried:   counter("retried_total", "Failed invocations scheduled for a retry after the backoff."),
		dead: counter("dead_lettered_total", "Events sent to the dead-letter subject, by reason (invalid, function, retries).",
			"reason"),
		processing: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edged_events_processing_seconds",
			Help:    "Time of one invocation of the trigger's function, whatever its verdict.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10), // 0.5ms .. ~131s
		}, []string{"trigger"}),
		lag: prometheus.NewDesc("edged_events_consumer_lag",
			"Events waiting in the trigger's JetStream consumer, not yet delivered (read when scraped).",
			[]string{"trigger"}, nil),
		log: log, lagTimeout: lagTimeout,
	}
}

// Delivered implements events.Observer.
func (m *eventMetrics) Delivered(trigger string) { m.delivered.WithLabelValues(trigger).Inc() }

// Processed implements events.Observer.
func (m *eventMetrics) Processed(trigger string, d time.Duration) {
	m.processing.WithLabelValues(trigger).Observe(d.Seconds())
}

// Acked implements events.Observer.
func (m *eventMetrics) Acked(trigger string) { m.acked.WithLabelValues(trigger).Inc() }

// Retried implements events.Observer.
func (m *eventMetrics) Retried(trigger string) { m.retried.WithLabelValues(trigger).Inc() }

// DeadLettered implements events.Observer.
func (m *eventMetrics) DeadLettered(trigger, reason string) {
	m.dead.WithLabelValues(trigger, reason).Inc()
}

// init makes the trigger's series exist at zero before its first event, so
// rates and alerts see it from the start.
func (m *eventMetrics) init(trigger string) {
	m.delivered.WithLabelValues(trigger)
	m.acked.WithLabelValues(trigger)
	m.retried.WithLabelValues(trigger)
	for _, r := range []string{events.DeadLetterInvalid, events.DeadLetterFunction, events.DeadLetterRetries} {
		m.dead.WithLabelValues(trigger, r)
	}
	m.processing.WithLabelValues(trigger)
}

// Describe implements prometheus.Collector.
func (m *eventMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.delivered.Describe(ch)
	m.acked.Describe(ch)
	m.retried.Describe(ch)
	m.dead.Describe(ch)
	m.processing.Describe(ch)
	ch <- m.lag
}

// Collect implements prometheus.Collector. The lag costs two JetStream
// requests per trigger (events.Server.Triggers), bounded by lagTimeout.
func (m *eventMetrics) Collect(ch chan<- prometheus.Metric) {
	m.delivered.Collect(ch)
	m.acked.Collect(ch)
	m.retried.Collect(ch)
	m.dead.Collect(ch)
	m.processing.Collect(ch)
	if m.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.lagTimeout)
	defer cancel()
	infos, err := m.srv.Triggers(ctx)
	for _, in := range infos {
		ch <- prometheus.MustNewConstMetric(m.lag, prometheus.GaugeValue, float64(in.Pending), in.Trigger)
	}
	if err != nil {
		// Not an invalid metric: that fails the whole scrape with a 500.
		// The triggers not read have no lag this time.
		m.log.Warn("events: consumer lag", "err", err)
	}
}

// worldExporter hands the events engine's spans to the exporter of the
// installed World's tracing ([tracing]), so events continue their
// publishers' traces into the same collector as requests, and a reload that
// changes [tracing] applies to events too.
type worldExporter struct{ world *atomic.Pointer[router.World] }

// ExportSpans implements trace.Exporter.
func (e worldExporter) ExportSpans(spans []trace.Span) {
	if w := e.world.Load(); w != nil && w.Tracing != nil && w.Tracing.Exporter != nil {
		w.Tracing.Exporter.ExportSpans(spans)
	}
}
