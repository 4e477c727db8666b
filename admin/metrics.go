package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edged/edged/strangler"
	"github.com/edged/edged/strangler/migrate"
)

// migrationCollector exports every route's migration state and the
// controller's last judgement of its step, read at scrape time so that the
// hot path pays nothing for them.
type migrationCollector struct {
	table *strangler.Table
	ctrl  *migrate.Controller

	step, paused, stepSeconds, requests         *prometheus.Desc
	isoErr, legErr, isoP99, legP99, latRatio    *prometheus.Desc
	compared, mismatches, mismatchRate, verdict *prometheus.Desc
}

func newMigrationCollector(t *strangler.Table, c *migrate.Controller) *migrationCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("edged_migration_"+name, help, append([]string{"route"}, labels...), nil)
	}
	return &migrationCollector{
		table:        t,
		ctrl:         c,
		step:         d("step", "Index of the route's current canary step (-1: none)."),
		paused:       d("paused", "1 when the route's migration is paused."),
		stepSeconds:  d("step_seconds", "Time since the current step began."),
		requests:     d("step_requests", "Isolate requests (shadow comparisons in shadow) in the current step."),
		isoErr:       d("isolate_error_ratio", "Isolate 5xx and limit breaches / requests in the current step."),
		legErr:       d("legacy_error_ratio", "Legacy 5xx / requests in the current step."),
		isoP99:       d("isolate_p99_seconds", "Isolate p99 latency in the current step."),
		legP99:       d("legacy_p99_seconds", "Legacy p99 latency, the latency gate's yardstick."),
		latRatio:     d("latency_ratio", "Isolate p99 / legacy p99 (0 without a legacy reference)."),
		compared:     d("shadow_compared", "Shadow comparisons in the current step."),
		mismatches:   d("shadow_mismatches", "Shadow mismatches in the current step."),
		mismatchRate: d("mismatch_ratio", "Shadow mismatches / comparisons in the current step."),
		verdict:      d("verdict", "1 for the gates' current verdict of the route's step.", "verdict"),
	}
}

// Describe implements prometheus.Collector.
func (m *migrationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.step, m.paused, m.stepSeconds, m.requests, m.isoErr, m.legErr,
		m.isoP99, m.legP99, m.latRatio, m.compared, m.mismatches, m.mismatchRate, m.verdict} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *migrationCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, r := range m.table.Routes() {
		if _, ok := m.ctrl.Plan(r.Name); !ok {
			continue
		}
		gauge(m.step, float64(r.Step), r.Name)
		gauge(m.paused, b2f(r.Paused), r.Name)
		g, ok := m.ctrl.Gates(r.Name)
		if !ok {
			continue
		}
		gauge(m.stepSeconds, g.Elapsed.Seconds(), r.Name)
		gauge(m.requests, float64(g.Requests), r.Name)
		gauge(m.isoErr, g.IsolateErrorRate, r.Name)
		gauge(m.legErr, g.LegacyErrorRate, r.Name)
		gauge(m.isoP99, g.IsolateP99.Seconds(), r.Name)
		gauge(m.legP99, g.LegacyP99.Seconds(), r.Name)
		gauge(m.latRatio, g.LatencyRatio, r.Name)
		gauge(m.compared, float64(g.ShadowCompared), r.Name)
		gauge(m.mismatches, float64(g.ShadowMismatches), r.Name)
		gauge(m.mismatchRate, g.MismatchRate, r.Name)
		for _, v := range []migrate.Verdict{migrate.VerdictWaiting, migrate.VerdictPass, migrate.VerdictFail, migrate.VerdictIdle} {
			gauge(m.verdict, b2f(g.Verdict == v), r.Name, string(v))
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
