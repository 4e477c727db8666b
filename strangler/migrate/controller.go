package migrate

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edged/edged/strangler"
)

// Sample is a cumulative reading of one route's outcomes, as the router
// records them. The controller subtracts the reading taken when a step began
// to get the step's window.
type Sample struct {
	Legacy, Isolate TargetSample
	// ShadowCompared and ShadowMismatches count shadow comparisons.
	ShadowCompared, ShadowMismatches uint64
}

// TargetSample is one target's share of a Sample.
type TargetSample struct {
	Requests uint64
	// Errors counts 5xx answers and limit breaches.
	Errors  uint64
	Latency Histogram
}

// Sub returns s - o: the outcomes between two readings.
func (s Sample) Sub(o Sample) Sample {
	sub := func(a, b uint64) uint64 {
		if a < b {
			return 0 // counters restarted
		}
		return a - b
	}
	return Sample{
		Legacy:           TargetSample{sub(s.Legacy.Requests, o.Legacy.Requests), sub(s.Legacy.Errors, o.Legacy.Errors), s.Legacy.Latency.Sub(o.Legacy.Latency)},
		Isolate:          TargetSample{sub(s.Isolate.Requests, o.Isolate.Requests), sub(s.Isolate.Errors, o.Isolate.Errors), s.Isolate.Latency.Sub(o.Isolate.Latency)},
		ShadowCompared:   sub(s.ShadowCompared, o.ShadowCompared),
		ShadowMismatches: sub(s.ShadowMismatches, o.ShadowMismatches),
	}
}

// Sampler gives the controller its readings; the router implements it.
type Sampler interface {
	Sample(route string) (Sample, bool)
}

// Verdict is the outcome of judging a step's gates.
type Verdict string

// Verdicts.
const (
	VerdictWaiting Verdict = "waiting" // not enough requests or time yet
	VerdictPass    Verdict = "pass"    // gates pass; promoted once the interval has elapsed
	VerdictFail    Verdict = "fail"
	VerdictIdle    Verdict = "idle" // no migration running on this route
)

// Gates is the last judgement of a route's current step, for people: the
// admin API and the dashboard show it.
type Gates struct {
	Stage            strangler.Stage
	Weight           int
	Step             int
	Since            time.Time // when the step began
	Elapsed          time.Duration
	Requests         uint64 // isolate requests (canary) or comparisons (shadow) in the step
	IsolateErrorRate float64
	LegacyErrorRate  float64
	IsolateP99       time.Duration
	LegacyP99        time.Duration
	LatencyRatio     float64 // 0 when there is no legacy reference
	ShadowCompared   uint64
	ShadowMismatches uint64
	MismatchRate     float64
	Verdict          Verdict
	Reason           string
}

// ControllerOptions configures a Controller. Zero values are defaults.
type ControllerOptions struct {
	// Now is the clock; nil means time.Now. Tests drive it.
	Now func() time.Time
	// Logger receives one line per promotion or rollback; nil discards.
	Logger *slog.Logger
	// Mover makes the controller's moves; nil means the table itself. A fleet
	// gives its shared state store, so a decision is one compare-and-swap
	// write every node applies. Every move is made with
	// strangler.Transition.Expect on the route as judged: a route that moved
	// meanwhile (a person, another controller) is not moved twice.
	Mover strangler.Mover
}

// Controller drives migration plans: it judges each running plan's gates on
// the router's numbers and promotes, rolls back or pauses routes through the
// same transitions people use. It is safe for concurrent use.
type Controller struct {
	t   *strangler.Table
	mv  strangler.Mover
	s   Sampler
	now func() time.Time
	log *slog.Logger

	mu        sync.Mutex
	plans     map[string]strangler.Plan
	steps     map[string]*stepState
	gates     map[string]Gates
	legacyP99 map[string]time.Duration // last legacy p99 seen, the reference once legacy gets no traffic
}

type stepState struct {
	stage    strangler.Stage
	weight   int
	start    time.Time
	baseline Sample
}

// NewController returns a controller for t reading s. Give it plans with
// SetPlans and call Tick periodically, or Run.
func NewController(t *strangler.Table, s Sampler, o ControllerOptions) *Controller {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Mover == nil {
		o.Mover = t
	}
	return &Controller{
		t: t, mv: o.Mover, s: s, now: o.Now, log: o.Logger,
		plans:     map[string]strangler.Plan{},
		steps:     map[string]*stepState{},
		gates:     map[string]Gates{},
		legacyP99: map[string]time.Duration{},
	}
}

// SetPlans replaces the plans (a config reload). Routes whose plan is gone
// stop being driven; steps in progress for unchanged plans keep their clock.
func (c *Controller) SetPlans(plans map[string]strangler.Plan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, old := range c.plans {
		if p, ok := plans[name]; !ok || fmt.Sprint(p) != fmt.Sprint(old) {
			delete(c.steps, name)
			delete(c.gates, name)
		}
	}
	c.plans = make(map[string]strangler.Plan, len(plans))
	for k, v := range plans {
		c.plans[k] = v
	}
}

// SetSampler replaces the source of readings and forgets every step's
// baseline, gates and legacy reference, all of which were read from the old
// source: each step is judged afresh from the next Tick, its interval counted
// from then. A fleet's leader gives it the fleet-wide windows of its term
// (fleet.WindowCollector), whose readings start at zero.
func (c *Controller) SetSampler(s Sampler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s = s
	clear(c.steps)
	clear(c.gates)
	clear(c.legacyP99)
}

// SetMover replaces the Mover of the controller's moves from the next
// decision on. A fleet's leader gives it, for each term, the fleet's state
// fenced by that term (fleet.State.Fenced), so a decision of a deposed
// leader cannot land after a newer leader's.
func (c *Controller) SetMover(m strangler.Mover) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mv = m
}

// Plan returns the plan of a route.
func (c *Controller) Plan(route string) (strangler.Plan, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.plans[route]
	return p, ok
}

// Gates returns the last judgement of a route's step.
func (c *Controller) Gates(route string) (Gates, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.gates[route]
	return g, ok
}

// Run calls Tick every interval until ctx ends. A fleet runs it on the
// leader only, for the leader's term: ctx is the term.
func (c *Controller) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.tickAll(ctx)
		}
	}
}

// Tick judges every running plan once and acts on the verdicts.
func (c *Controller) Tick() { c.tickAll(context.Background()) }

func (c *Controller) tickAll(ctx context.Context) {
	c.mu.Lock()
	names := make([]string, 0, len(c.plans))
	for name := range c.plans {
		names = append(names, name)
	}
	c.mu.Unlock()
	for _, name := range names {
		c.tick(ctx, name)
	}
}

func (c *Controller) tick(ctx context.Context, name string) {
	c.mu.Lock()
	plan, ok := c.plans[name]
	c.mu.Unlock()
	if !ok {
		return
	}
	r, ok := c.t.Route(name)
	if !ok {
		return
	}
	c.mu.Lock()
	s := c.s
	c.mu.Unlock()
	cur, ok := s.Sample(name)
	if !ok {
		return
	}
	now := c.now()
	g := c.judge(name, r, plan, cur, now)
	c.mu.Lock()
	c.gates[name] = g
	c.mu.Unlock()
	if r.Paused {
		return
	}
	a := strangler.Action{Actor: strangler.ActorController, Reason: g.Reason}
	var tr strangler.Transition
	switch {
	case g.Verdict == VerdictFail && plan.OnFailure == strangler.FailPause:
		tr = strangler.Pause(true)
	case g.Verdict == VerdictFail:
		tr = strangler.Rollback(&plan)
	case g.Verdict == VerdictPass && g.Elapsed >= plan.Interval:
		tr = strangler.Promote(&plan)
	default:
		return
	}
	c.mu.Lock()
	mv := c.mv
	c.mu.Unlock()
	if _, err := mv.Move(ctx, name, tr.Expect(r), a); err != nil {
		c.log.Warn("migration step", "route", name, "verdict", g.Verdict, "error", err)
		return
	}
	c.log.Info("migration step", "route", name, "verdict", g.Verdict, "reason", g.Reason)
}

// judge computes the gates of r's current step.
func (c *Controller) judge(name string, r strangler.Route, p strangler.Plan, cur Sample, now time.Time) Gates {
	c.mu.Lock()
	st := c.steps[name]
	if st == nil || st.stage != r.Stage || st.weight != r.Weight {
		st = &stepState{stage: r.Stage, weight: r.Weight, start: now, baseline: cur}
		c.steps[name] = st
	}
	c.mu.Unlock()
	w := cur.Sub(st.baseline)
	g := Gates{
		Stage: r.Stage, Weight: r.Weight, Step: r.Step,
		Since: st.start, Elapsed: now.Sub(st.start),
		IsolateErrorRate: rate(w.Isolate.Errors, w.Isolate.Requests),
		LegacyErrorRate:  rate(w.Legacy.Errors, w.Legacy.Requests),
		IsolateP99:       w.Isolate.Latency.Quantile(0.99),
		LegacyP99:        w.Legacy.Latency.Quantile(0.99),
		ShadowCompared:   w.ShadowCompared,
		ShadowMismatches: w.ShadowMismatches,
		MismatchRate:     rate(w.ShadowMismatches, w.ShadowCompared),
	}
	// Legacy's p99 is the yardstick; at high weights legacy sees little
	// traffic, so the last good reading stands in.
	c.mu.Lock()
	if w.Legacy.Latency.Count() >= 20 {
		c.legacyP99[name] = g.LegacyP99
	} else if ref, ok := c.legacyP99[name]; ok {
		g.LegacyP99 = ref
	}
	c.mu.Unlock()
	if g.LegacyP99 > 0 && g.IsolateP99 > 0 {
		g.LatencyRatio = float64(g.IsolateP99) / float64(g.LegacyP99)
	}

	switch r.Stage {
	case strangler.StageShadow:
		g.Requests = w.ShadowCompared
	case strangler.StageCanary:
		g.Requests = w.Isolate.Requests
	default:
		g.Verdict = VerdictIdle
		return g
	}
	if g.Requests < uint64(p.MinRequests) {
		g.Verdict = VerdictWaiting
		g.Reason = fmt.Sprintf("%d of %d requests", g.Requests, p.MinRequests)
		return g
	}
	var fails []string
	if r.Stage == strangler.StageCanary && g.IsolateErrorRate > g.LegacyErrorRate+p.MaxErrorRate {
		fails = append(fails, fmt.Sprintf("error rate %.2f%% > legacy %.2f%% + %.2f%%",
			100*g.IsolateErrorRate, 100*g.LegacyErrorRate, 100*p.MaxErrorRate))
	}
	if r.Stage == strangler.StageCanary && g.LatencyRatio > p.MaxLatencyRatio {
		fails = append(fails, fmt.Sprintf("p99 %v / legacy %v = %.2f > %.2f",
			g.IsolateP99, g.LegacyP99, g.LatencyRatio, p.MaxLatencyRatio))
	}
	if g.ShadowCompared > 0 && g.MismatchRate > p.MaxMismatchRate {
		fails = append(fails, fmt.Sprintf("mismatch rate %.2f%% (%d of %d) > %.2f%%",
			100*g.MismatchRate, g.ShadowMismatches, g.ShadowCompared, 100*p.MaxMismatchRate))
	}
	if len(fails) > 0 {
		g.Verdict = VerdictFail
		g.Reason = "gate failed: " + join(fails)
		return g
	}
	g.Verdict = VerdictPass
	g.Reason = fmt.Sprintf("gates passed over %d requests in %v: errors %.2f%% (legacy %.2f%%), p99 %v (legacy %v), mismatches %d/%d",
		g.Requests, g.Elapsed.Round(time.Millisecond), 100*g.IsolateErrorRate, 100*g.LegacyErrorRate,
		g.IsolateP99, g.LegacyP99, g.ShadowMismatches, g.ShadowCompared)
	return g
}

func rate(n, d uint64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}
