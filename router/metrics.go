package router

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged/edged/corpus"
	"github.com/edged/edged/cost"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/shadow"
	"github.com/edged/edged/strangler/migrate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// TargetStats are the cumulative counters of one route's traffic to one target (the
// legacy upstream or the isolate) since the Server started. P50 and P99 are estimates
// from strangler's log-scale latency buckets (four per power of two, so within about
// 19%, rounded up); they are zero before the first request.
type TargetStats struct {
	// Requests counts requests answered, or attempted, by this target.
	Requests uint64
	// Errors5xx counts requests whose answer from this target was a 5xx, including
	// isolate failures that then fell back to legacy.
	Errors5xx uint64
	// LimitBreaches counts isolate invocations that ran past their deadline, their
	// memory cap or a body cap. Always zero for the legacy target.
	LimitBreaches uint64
	// Fallbacks counts isolate failures answered from legacy instead. Always zero for
	// the legacy target.
	Fallbacks uint64
	// P50 and P99 are the median and 99th percentile latency.
	P50, P99 time.Duration
}

// RouteStats are one route's counters: per target, and for the shadow stage the
// comparisons made and the newest mismatches (at most 20, oldest first).
type RouteStats struct {
	Legacy, Isolate  TargetStats
	ShadowCompared   uint64
	ShadowMismatches uint64
	// ShadowSkipped counts mirrors not made or not compared: the route's mirror
	// semaphore was full, the legacy body was over ShadowMaxBody, or legacy failed.
	ShadowSkipped uint64
	Mismatches    []Mismatch
	// Noise lists, sorted, what the noise baseline (RouteOptions.NoiseSample) saw
	// differ between two answers of legacy to one request, and so no longer counts as
	// a mismatch: JSON paths with indices as "[*]" ("$.items[*].id"), "header:NAME"
	// (lower case) and "body" (non-JSON bodies). At most 64 entries; the ones seen
	// most often are kept.
	Noise []string
}

// Mismatch is one difference a shadow comparison found. Field is "status",
// "header:NAME" or "body:PATH" (a JSON path such as "$.users[2].name", or "body:" alone
// for bodies compared as bytes). Legacy and Isolate hold the two values, truncated to
// 256 bytes; values of Authorization, Cookie and Set-Cookie are redacted.
type Mismatch struct {
	Time            time.Time
	Method, Path    string
	Field           string
	Legacy, Isolate string
}

const (
	targetLegacy = iota
	targetIsolate
)

var targetNames = [2]string{"legacy", "isolate"}

// maxMismatches is how many mismatches a route keeps.
const maxMismatches = 20

// targetState is one route's live counters for one target, with its Prometheus
// children bound once so the hot path does no label lookups.
type targetState struct {
	requests, errors5xx, breaches, fallbacks atomic.Uint64
	lat                                      migrate.LiveHistogram
	byClass                                  [6]prometheus.Counter // index status/100; 0 for odd codes
	duration                                 prometheus.Observer
}

func (t *targetState) record(status int, d time.Duration) {
	t.requests.Add(1)
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	if class == 5 {
		t.errors5xx.Add(1)
	}
	t.byClass[class].Inc()
	t.lat.Observe(d)
	t.duration.Observe(d.Seconds())
}

func (t *targetState) stats() TargetStats {
	h := t.lat.Read()
	return TargetStats{
		Requests:      t.requests.Load(),
		Errors5xx:     t.errors5xx.Load(),
		LimitBreaches: t.breaches.Load(),
		Fallbacks:     t.fallbacks.Load(),
		P50:           h.Quantile(0.5),
		P99:           h.Quantile(0.99),
	}
}

// sample is the target's cumulative reading for the migration controller.
// Isolate limit breaches are already counted among the 5xx.
func (t *targetState) sample() migrate.TargetSample {
	return migrate.TargetSample{Requests: t.requests.Load(), Errors: t.errors5xx.Load(), Latency: t.lat.Read()}
}

// routeState is everything the Server keeps per route name. It outlives Worlds and
// table reloads, so counters are cumulative for the life of the Server.
type routeState struct {
	name    string
	targets [2]targetState

	fallbackTotal prometheus.Counter
	shadowMatch   prometheus.Counter
	shadowMis     prometheus.Counter
	shadowSkip    prometheus.Counter

	compared, mismatched, skipped atomic.Uint64
	shadowInFlight                atomic.Int64

	mu         sync.Mutex
	mismatches [maxMismatches]Mismatch
	misNext    int // index of the next slot to write
	misLen     int

	noise shadow.Noise
	cost  cost.Meter // the route's isolate invocations as FaaS would bill them

	// rec is the Writer the route records into; nil when it does not
	// (Server.Record). recQueued and recDropped count its records.
	rec                   atomic.Pointer[corpus.Writer]
	recQueued, recDropped prometheus.Counter

	// rejected counts the gate's own answers (401, 403, 429) by reason; they
	// never reach a target, so the per-target counters do not see them.
	rejected [rejectCount]prometheus.Counter
}

func (rs *routeState) addMismatch(m Mismatch) {
	rs.mu.Lock()
	rs.mismatches[rs.misNext] = m
	rs.misNext = (rs.misNext + 1) % maxMismatches
	rs.misLen = min(rs.misLen+1, maxMismatches)
	rs.mu.Unlock()
}

func (rs *routeState) stats() RouteStats {
	st := RouteStats{
		Legacy:           rs.targets[targetLegacy].stats(),
		Isolate:          rs.targets[targetIsolate].stats(),
		ShadowCompared:   rs.compared.Load(),
		ShadowMismatches: rs.mismatched.Load(),
		ShadowSkipped:    rs.skipped.Load(),
	}
	st.Noise = rs.noise.List()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	st.Mismatches = make([]Mismatch, 0, rs.misLen)
	start := (rs.misNext - rs.misLen + maxMismatches) % maxMismatches
	for i := range rs.misLen {
		st.Mismatches = append(st.Mismatches, rs.mismatches[(start+i)%maxMismatches])
	}
	return st
}

// metrics holds the Prometheus families the request path updates directly.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	fallbacks *prometheus.CounterVec
	shadow    *prometheus.CounterVec

	rejections *prometheus.CounterVec
	records    *prometheus.CounterVec
}

var codeClasses = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func newMetrics(reg prometheus.Registerer, s *Server) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_requests_total",
			Help: "Requests answered, by route, target (legacy or isolate) and status class.",
		}, []string{"route", "target", "code_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edged_request_duration_seconds",
			Help:    "Time to answer a request, by route and target.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "target"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_fallbacks_total",
			Help: "Isolate failures answered from legacy instead, by route.",
		}, []string{"route"}),
		shadow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_shadow_comparisons_total",
			Help: "Shadow comparisons by route and result (match, mismatch, skipped).",
		}, []string{"route", "result"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.fallbacks, m.shadow, &stateCollector{s: s}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edged_gateway_rejections_total",
		Help: "Requests the gateway answered itself before any target, by route and reason " +
			"(unauthenticated 401, forbidden 403, rate_limited 429).",
	}, []string{"route", "reason"})
	if err := reg.Register(m.rejections); err != nil {
		return nil, err
	}
	m.records = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edged_record_records_total",
		Help: "Records of a recording route (docs/record-replay.md) by route and result: queued for the " +
			"corpus file, or dropped because the writer's queue was full.",
	}, []string{"route", "result"})
	if err := reg.Register(m.records); err != nil {
		return nil, err
	}
	if err := reg.Register(&idemCollector{s: s}); err != nil {
		return nil, err
	}
	return m, nil
}

// newRouteState binds every label combination of a route once.
func (m *metrics) newRouteState(name string) *routeState {
	rs := &routeState{
		name:          name,
		fallbackTotal: m.fallbacks.WithLabelValues(name),
		shadowMatch:   m.shadow.WithLabelValues(name, "match"),
		shadowMis:     m.shadow.WithLabelValues(name, "mismatch"),
		shadowSkip:    m.shadow.WithLabelValues(name, "skipped"),
		recQueued:     m.records.WithLabelValues(name, "queued"),
		recDropped:    m.records.WithLabelValues(name, "dropped"),
	}
	for t := range rs.targets {
		for c := range codeClasses {
			rs.targets[t].byClass[c] = m.requests.WithLabelValues(name, targetNames[t], codeClasses[c])
		}
		rs.targets[t].duration = m.duration.WithLabelValues(name, targetNames[t])
	}
	for r := range rs.rejected {
		rs.rejected[r] = m.rejections.WithLabelValues(name, rejectNames[r])
	}
	return rs
}

// rejectReason is why the gate answered a request itself.
type rejectReason uint8

const (
	rejectUnauthenticated rejectReason = iota // 401
	rejectForbidden                           // 403, a scope is missing
	rejectRateLimited                         // 429
	rejectCount
)

var rejectNames = [rejectCount]string{"unauthenticated", "forbidden", "rate_limited"}

// countRejection adds one to edged_gateway_rejections_total for the route ctx
// matched. The gate does not get the route's state, so the route is looked up
// again from the request; that costs a lookup only on requests refused, never
// on those served. A request that no longer matches (the table changed in
// between) is not counted.
func (s *Server) countRejection(ctx *fasthttp.RequestCtx, reason rejectReason) {
	var buf [256]byte
	path, ok := NormalizePath(buf[:0], ctx.Request.URI().PathOriginal())
	if !ok {
		return
	}
	r, ok := s.table.Snapshot().Lookup(ctx.Host(), path, ctx.Method())
	if !ok {
		return
	}
	s.state(r.Name).rejected[reason].Inc()
}

// stateCollector reports, at scrape time, what the request path does not count itself:
// route stages and weights from the table, upstream connections and the isolate
// functions' own counters. Reading them on scrape keeps them off the hot path.
type stateCollector struct{ s *Server }

var (
	descStage = prometheus.NewDesc("edged_route_stage",
		"Migration stage of a route: 0 legacy, 1 shadow, 2 canary, 3 isolate, 4 retired.", []string{"route"}, nil)
	descWeight = prometheus.NewDesc("edged_route_weight",
		"Canary weight of a route in percent.", []string{"route"}, nil)
	descUpConns = prometheus.NewDesc("edged_upstream_connections",
		"Open connections to a legacy upstream.", []string{"upstream"}, nil)
	descInvocations = prometheus.NewDesc("edged_isolate_invocations_total",
		"Isolate invocations by function and start (cold or warm).", []string{"function", "start"}, nil)
	descBreaches = prometheus.NewDesc("edged_isolate_limit_breaches_total",
		"Isolate limit breaches by function and kind.", []string{"function", "kind"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStage, descWeight, descUpConns, descInvocations, descBreaches} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	if t := s.table; t != nil {
		for _, r := range t.Routes() {
			ch <- prometheus.MustNewConstMetric(descStage, prometheus.GaugeValue, float64(r.Stage), r.Name)
			ch <- prometheus.MustNewConstMetric(descWeight, prometheus.GaugeValue, float64(r.Weight), r.Name)
		}
	}
	ws := s.world.Load()
	if ws == nil {
		return
	}
	for name, u := range ws.w.Upstreams {
		if u != nil {
			ch <- prometheus.MustNewConstMetric(descUpConns, prometheus.GaugeValue, float64(u.Stats().ConnsOpen), name)
		}
	}
	s.baseMu.Lock()
	defer s.baseMu.Unlock()
	seen := make(map[string]bool, len(ws.w.Functions))
	for name, f := range ws.w.Functions {
		if f == nil {
			continue
		}
		seen[name] = true
		emitFunctionStats(ch, name, addStats(s.base[name], f.Stats()))
	}
	// Functions gone from the World keep their last counts so counters never go back.
	for name, st := range s.base {
		if !seen[name] {
			emitFunctionStats(ch, name, st)
		}
	}
}

func emitFunctionStats(ch chan<- prometheus.Metric, name string, st isolate.Stats) {
	ch <- prometheus.MustNewConstMetric(descInvocations, prometheus.CounterValue, float64(st.ColdStarts), name, "cold")
	ch <- prometheus.MustNewConstMetric(descInvocations, prometheus.CounterValue, float64(st.WarmStarts), name, "warm")
	for _, k := range []struct {
		kind string
		n    uint64
	}{
		{"deadline", st.Deadlines},
		{"memory", st.MemoryLimits},
		{"body_size", st.BodyTooLarge},
		{"pool_exhausted", st.PoolExhausted},
		{"egress_denied", st.EgressDenied},
		{"subrequests", st.BudgetExhausted},
	} {
		ch <- prometheus.MustNewConstMetric(descBreaches, prometheus.CounterValue, float64(k.n), name, k.kind)
	}
}

// addStats adds the counters of b to a (pool state and timings are not summed).
func addStats(a, b isolate.Stats) isolate.Stats {
	a.Invocations += b.Invocations
	a.ColdStarts += b.ColdStarts
	a.WarmStarts += b.WarmStarts
	a.Deadlines += b.Deadlines
	a.MemoryLimits += b.MemoryLimits
	a.Traps += b.Traps
	a.BodyTooLarge += b.BodyTooLarge
	a.PoolExhausted += b.PoolExhausted
	a.EgressDenied += b.EgressDenied
	a.BudgetExhausted += b.BudgetExhausted
	return a
}

// idemCollector reports, at scrape time, each route's idempotency keys in flight
// and the duplicates waiting on them: a stuck upstream shows as waiters piling up.
type idemCollector struct{ s *Server }

var (
	descIdemInFlight = prometheus.NewDesc("edged_idempotency_in_flight",
		"Idempotency keys whose first request is running, by route.", []string{"route"}, nil)
	descIdemWaiting = prometheus.NewDesc("edged_idempotency_waiting",
		"Duplicate requests waiting for the first request of their idempotency key, by route.", []string{"route"}, nil)
)

func (c *idemCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descIdemInFlight
	ch <- descIdemWaiting
}

func (c *idemCollector) Collect(ch chan<- prometheus.Metric) {
	ws := c.s.world.Load()
	if ws == nil {
		return
	}
	for name, o := range ws.opts {
		i := o.Idempotency
		if i == nil {
			continue
		}
		if st, ok := i.Store().(interface{ InFlight() int }); ok {
			ch <- prometheus.MustNewConstMetric(descIdemInFlight, prometheus.GaugeValue, float64(st.InFlight()), name)
		}
		ch <- prometheus.MustNewConstMetric(descIdemWaiting, prometheus.GaugeValue, float64(i.Waiting()), name)
	}
}
