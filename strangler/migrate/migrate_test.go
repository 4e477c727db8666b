package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/strangler"
)

func migRoute(stage strangler.Stage, weight int) strangler.Route {
	return strangler.Route{Name: "users", Path: "/api/users", Upstream: "monolith", Function: "users", Stage: stage, Weight: weight, Step: -1}
}

func testPlan() strangler.Plan {
	return strangler.Plan{Start: strangler.StageCanary, Steps: []int{5, 25, 50, 100}, Interval: time.Minute, MinRequests: 100,
		MaxErrorRate: 0.01, MaxLatencyRatio: 1.5, MaxMismatchRate: 0.01, OnFailure: strangler.FailRollback}
}

func TestHistogram(t *testing.T) {
	var l LiveHistogram
	for i := 0; i < 990; i++ {
		l.Observe(time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		l.Observe(100 * time.Millisecond)
	}
	h := l.Read()
	if got := h.Quantile(0.5); got < time.Millisecond || got > 1200*time.Microsecond {
		t.Errorf("p50 = %v, want ~1ms", got)
	}
	if got := h.Quantile(0.99); got < time.Millisecond || got > 1200*time.Microsecond {
		t.Errorf("p99 = %v, want ~1ms (990 of 1000 are 1ms)", got)
	}
	if got := h.Quantile(0.999); got < 100*time.Millisecond || got > 120*time.Millisecond {
		t.Errorf("p99.9 = %v, want ~100ms", got)
	}
	before := l.Read()
	l.Observe(5 * time.Second)
	d := l.Read().Sub(before)
	if d.Count() != 1 || d.Quantile(1) < 5*time.Second {
		t.Errorf("window = %d obs, max %v; want 1 obs >= 5s", d.Count(), d.Quantile(1))
	}
	for _, v := range []time.Duration{0, time.Nanosecond, 16 * time.Microsecond, time.Hour * 1000} {
		if i := BucketOf(v); i < 0 || i >= NumBuckets || v > BucketBound(i) {
			t.Errorf("BucketOf(%v) = %d (bound %v)", v, i, BucketBound(i))
		}
	}
}

// fakeSampler lets a test play the router.
type fakeSampler struct {
	mu sync.Mutex
	s  Sample
}

func (f *fakeSampler) Sample(string) (Sample, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s, true
}

// serve records n requests on a target with the given errors and latency.
func (f *fakeSampler) serve(isolate bool, n, errs int, lat time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &f.s.Legacy
	if isolate {
		t = &f.s.Isolate
	}
	t.Requests += uint64(n)
	t.Errors += uint64(errs)
	t.Latency[BucketOf(lat)] += uint64(n)
}

func TestControllerWalksAHealthyCanaryToIsolate(t *testing.T) {
	tb, _ := strangler.NewTable([]strangler.Route{migRoute(strangler.StageCanary, 5)})
	now := time.Unix(1000, 0)
	fs := &fakeSampler{}
	c := NewController(tb, fs, ControllerOptions{Now: func() time.Time { return now }})
	c.SetPlans(map[string]strangler.Plan{"users": testPlan()})
	var stages []string
	for step := 0; step < 10; step++ {
		c.Tick() // begins the step's window
		fs.serve(true, 150, 0, 2*time.Millisecond)
		fs.serve(false, 150, 0, 2*time.Millisecond)
		c.Tick() // enough requests, interval not yet elapsed: no move
		if g, _ := c.Gates("users"); g.Verdict != VerdictPass && g.Verdict != VerdictIdle {
			t.Fatalf("step %d: verdict %s (%s), want pass", step, g.Verdict, g.Reason)
		}
		now = now.Add(time.Minute)
		c.Tick()
		r, _ := tb.Route("users")
		stages = append(stages, r.Stage.String()+"/"+itoa(r.Weight))
		if r.Stage == strangler.StageIsolate {
			break
		}
	}
	if got := strings.Join(stages, " "); got != "canary/25 canary/50 canary/100 isolate/100" {
		t.Errorf("walk = %s", got)
	}
	for _, ev := range tb.LatestEvents(10) {
		if ev.Actor != strangler.ActorController || !strings.Contains(ev.Reason, "gates passed") {
			t.Errorf("event %+v: want the controller's promotion with its reason", ev)
		}
	}
}

func TestControllerRollsBackOnAFailingGate(t *testing.T) {
	tests := []struct {
		name    string
		serve   func(fs *fakeSampler)
		onFail  strangler.OnFailure
		stage   strangler.Stage
		paused  bool
		inError string
	}{
		{"errors", func(fs *fakeSampler) {
			fs.serve(true, 100, 20, time.Millisecond)
			fs.serve(false, 100, 0, time.Millisecond)
		},
			strangler.FailRollback, strangler.StageLegacy, false, "error rate"},
		{"slowness", func(fs *fakeSampler) {
			fs.serve(true, 100, 0, 50*time.Millisecond)
			fs.serve(false, 100, 0, time.Millisecond)
		},
			strangler.FailRollback, strangler.StageLegacy, false, "p99"},
		{"wrong bodies", func(fs *fakeSampler) {
			fs.serve(true, 100, 0, time.Millisecond)
			fs.serve(false, 100, 0, time.Millisecond)
			fs.mu.Lock()
			fs.s.ShadowCompared, fs.s.ShadowMismatches = 100, 30
			fs.mu.Unlock()
		}, strangler.FailRollback, strangler.StageLegacy, false, "mismatch"},
		{"errors with pause", func(fs *fakeSampler) { fs.serve(true, 100, 50, time.Millisecond) },
			strangler.FailPause, strangler.StageCanary, true, "error rate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, _ := strangler.NewTable([]strangler.Route{migRoute(strangler.StageCanary, 25)})
			fs := &fakeSampler{}
			now := time.Unix(1000, 0)
			c := NewController(tb, fs, ControllerOptions{Now: func() time.Time { return now }})
			p := testPlan()
			p.OnFailure = tc.onFail
			c.SetPlans(map[string]strangler.Plan{"users": p})
			c.Tick()
			tc.serve(fs)
			// No waiting for the interval: a failing gate acts as soon as
			// min_requests are in.
			c.Tick()
			r, _ := tb.Route("users")
			if r.Stage != tc.stage || r.Paused != tc.paused {
				t.Fatalf("route = %s paused=%v, want %s paused=%v", r.Stage, r.Paused, tc.stage, tc.paused)
			}
			ev := tb.LatestEvents(1)[0]
			if ev.Actor != strangler.ActorController || !strings.Contains(ev.Reason, tc.inError) {
				t.Errorf("event = %+v, want the controller's reason mentioning %q", ev, tc.inError)
			}
		})
	}
}

func TestControllerWaitsForMinRequests(t *testing.T) {
	tb, _ := strangler.NewTable([]strangler.Route{migRoute(strangler.StageCanary, 5)})
	fs := &fakeSampler{}
	now := time.Unix(1000, 0)
	c := NewController(tb, fs, ControllerOptions{Now: func() time.Time { return now }})
	c.SetPlans(map[string]strangler.Plan{"users": testPlan()})
	c.Tick()
	fs.serve(true, 99, 99, time.Millisecond) // all failing, but too few to judge
	now = now.Add(time.Hour)
	c.Tick()
	if r, _ := tb.Route("users"); r.Stage != strangler.StageCanary || r.Weight != 5 {
		t.Errorf("route = %s/%d, want canary/5 untouched", r.Stage, r.Weight)
	}
	if g, _ := c.Gates("users"); g.Verdict != VerdictWaiting {
		t.Errorf("verdict = %s, want waiting", g.Verdict)
	}
}

func TestControllerLeavesPausedRoutes(t *testing.T) {
	r := migRoute(strangler.StageCanary, 5)
	r.Paused = true
	tb, _ := strangler.NewTable([]strangler.Route{r})
	fs := &fakeSampler{}
	now := time.Unix(1000, 0)
	c := NewController(tb, fs, ControllerOptions{Now: func() time.Time { return now }})
	c.SetPlans(map[string]strangler.Plan{"users": testPlan()})
	c.Tick()
	fs.serve(true, 500, 0, time.Millisecond)
	now = now.Add(time.Hour)
	c.Tick()
	if got, _ := tb.Route("users"); got.Weight != 5 {
		t.Errorf("paused route moved to weight %d", got.Weight)
	}
}

func TestStore(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("missing file is empty state", func(t *testing.T) {
		st, err := s.Load()
		if err != nil || len(st.Routes) != 0 {
			t.Fatalf("Load() = %+v, %v", st, err)
		}
	})
	plan := testPlan()
	plans := map[string]strangler.Plan{"users": plan}
	tb, _ := strangler.NewTable([]strangler.Route{migRoute(strangler.StageCanary, 5)})
	if _, err := tb.Promote("users", &plan, strangler.Action{Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(CurrentState(tb, plans)); err != nil {
		t.Fatal(err)
	}
	t.Run("progress wins while the plan is unchanged", func(t *testing.T) {
		st, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		got := ApplyState([]strangler.Route{migRoute(strangler.StageCanary, 5)}, plans, st, false)
		if got[0].Stage != strangler.StageCanary || got[0].Weight != 25 {
			t.Errorf("ApplyState = %s/%d, want canary/25", got[0].Stage, got[0].Weight)
		}
		if len(st.Events) != 1 || st.Events[0].Kind != strangler.KindPromote {
			t.Errorf("events = %+v", st.Events)
		}
	})
	t.Run("a changed plan resets to router.toml", func(t *testing.T) {
		st, _ := s.Load()
		changed := plan
		changed.Steps = []int{10, 100}
		got := ApplyState([]strangler.Route{migRoute(strangler.StageCanary, 10)}, map[string]strangler.Plan{"users": changed}, st, false)
		if got[0].Weight != 10 {
			t.Errorf("ApplyState = %d, want router.toml's 10", got[0].Weight)
		}
	})
	t.Run("a leftover temp file from a crash does not matter", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, ".migrations-123.tmp"), []byte("{half"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(); err != nil {
			t.Fatalf("Load() = %v", err)
		}
	})
	t.Run("corrupt file is set aside and routes fail safe", func(t *testing.T) {
		if err := os.WriteFile(s.Path(), []byte(`{"version":1,"routes":[{"name":"users","stage":"canary","weight":`), 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := s.Load()
		if !errors.Is(err, ErrCorruptState) {
			t.Fatalf("Load() = %v, want ErrCorruptState", err)
		}
		if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("corrupt file still in place: %v", err)
		}
		aside, _ := filepath.Glob(s.Path() + ".corrupt-*")
		if len(aside) != 1 {
			t.Errorf("set-aside copies = %v, want 1", aside)
		}
		got := ApplyState([]strangler.Route{migRoute(strangler.StageCanary, 50)}, plans, st, true)
		if got[0].Stage != strangler.StageLegacy || !got[0].Paused {
			t.Errorf("after corrupt state: %s paused=%v, want legacy paused", got[0].Stage, got[0].Paused)
		}
	})
}

func itoa(i int) string {
	return strings.TrimSpace(strings.Replace(time.Duration(i).String(), "ns", "", 1))
}

func TestPersist(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	plan := testPlan()
	tb, _ := strangler.NewTable([]strangler.Route{migRoute(strangler.StageCanary, 5)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Persist(ctx, tb, s, func() map[string]strangler.Plan { return map[string]strangler.Plan{"users": plan} }, func(err error) { t.Error(err) })
	}()
	if _, err := tb.Promote("users", &plan, strangler.Action{Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done // Persist saves once more before it returns
	st, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Routes) != 1 || st.Routes[0].Weight != 25 || st.Routes[0].Plan != plan.Hash(migRoute(strangler.StageCanary, 5)) {
		t.Errorf("saved = %+v, want users at 25 with its plan hash", st.Routes)
	}
}

func TestPersisterWaitSaved(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := strangler.NewTable([]strangler.Route{migRoute(strangler.StageCanary, 5)})
	p := NewPersister(tb, s, func() map[string]strangler.Plan { return nil }, func(err error) { t.Error(err) })
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { p.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	for range 20 {
		if _, err := tb.SetWeight("users", 7, strangler.Action{Actor: "admin"}); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitSaved(context.Background()); err != nil {
			t.Fatal(err)
		}
		st, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Events) != len(tb.LatestEvents(0)) {
			t.Fatalf("after WaitSaved the file has %d events, the table %d", len(st.Events), len(tb.LatestEvents(0)))
		}
	}
}

// racingMover moves the route by hand just before the controller's move
// lands, as another node's admin would.
type racingMover struct {
	tb    *strangler.Table
	moves int
}

func (m *racingMover) Move(ctx context.Context, name string, tr strangler.Transition, a strangler.Action) (strangler.Route, error) {
	m.moves++
	if _, err := m.tb.SetWeight(name, 40, strangler.Action{Actor: "admin"}); err != nil {
		return strangler.Route{}, err
	}
	return m.tb.Move(ctx, name, tr, a)
}

func TestControllerDoesNotApplyAStaleDecision(t *testing.T) {
	tb, _ := strangler.NewTable([]strangler.Route{migRoute(strangler.StageCanary, 5)})
	now := time.Unix(1000, 0)
	fs := &fakeSampler{}
	mv := &racingMover{tb: tb}
	c := NewController(tb, fs, ControllerOptions{Now: func() time.Time { return now }, Mover: mv})
	c.SetPlans(map[string]strangler.Plan{"users": testPlan()})
	c.Tick()
	fs.serve(true, 150, 0, time.Millisecond)
	fs.serve(false, 150, 0, time.Millisecond)
	now = now.Add(time.Minute)
	c.Tick()
	if mv.moves != 1 {
		t.Fatalf("the controller moved %d times through its Mover, want 1", mv.moves)
	}
	if r, _ := tb.Route("users"); r.Stage != strangler.StageCanary || r.Weight != 40 {
		t.Errorf("route = %s/%d, want canary/40: the promotion judged at 5%% must not apply on top of 40%%", r.Stage, r.Weight)
	}
}

// TestControllerSetSampler: a new source (a fleet's new leader with fresh
// windows) starts every step afresh: the baseline and the interval come from
// the new source's first reading, not from the old source's.
func TestControllerSetSampler(t *testing.T) {
	tb, _ := strangler.NewTable([]strangler.Route{migRoute(strangler.StageCanary, 5)})
	now := time.Unix(1000, 0)
	old := &fakeSampler{}
	c := NewController(tb, old, ControllerOptions{Now: func() time.Time { return now }})
	c.SetPlans(map[string]strangler.Plan{"users": testPlan()})
	c.Tick() // the step begins on the old source
	old.serve(true, 500, 0, time.Millisecond)
	old.serve(false, 500, 0, time.Millisecond)
	now = now.Add(30 * time.Second)
	c.Tick()
	if g, _ := c.Gates("users"); g.Verdict != VerdictPass {
		t.Fatalf("verdict on the old source = %s (%s), want pass", g.Verdict, g.Reason)
	}

	fresh := &fakeSampler{} // readings start at zero, below the old baseline
	c.SetSampler(fresh)
	if _, ok := c.Gates("users"); ok {
		t.Errorf("gates of the old source kept after SetSampler")
	}
	c.Tick() // the step begins again on the fresh source
	now = now.Add(45 * time.Second)
	fresh.serve(true, 150, 0, time.Millisecond)
	fresh.serve(false, 150, 0, time.Millisecond)
	c.Tick() // 75s since the step began on the old source, 45s on the new one
	if r, _ := tb.Route("users"); r.Weight != 5 {
		t.Fatalf("route promoted to %d after 45s of the fresh source's windows, want the interval counted afresh", r.Weight)
	}
	g, _ := c.Gates("users")
	if g.Requests != 150 || g.Elapsed != 45*time.Second {
		t.Errorf("gates = %d requests over %v, want 150 over 45s (the fresh source's)", g.Requests, g.Elapsed)
	}
	now = now.Add(15 * time.Second)
	c.Tick()
	if r, _ := tb.Route("users"); r.Weight != 25 {
		t.Errorf("route at %d after a full interval on the fresh source, want 25", r.Weight)
	}
}

// countingMover counts the moves made through it before making them on the
// table.
type countingMover struct {
	tb    *strangler.Table
	moves int
}

func (m *countingMover) Move(ctx context.Context, name string, tr strangler.Transition, a strangler.Action) (strangler.Route, error) {
	m.moves++
	return m.tb.Move(ctx, name, tr, a)
}

// TestControllerSetMover: after SetMover (a fleet's new term) the
// controller's decisions go through the new Mover only.
func TestControllerSetMover(t *testing.T) {
	tb, _ := strangler.NewTable([]strangler.Route{migRoute(strangler.StageCanary, 5)})
	now := time.Unix(1000, 0)
	fs := &fakeSampler{}
	first, second := &countingMover{tb: tb}, &countingMover{tb: tb}
	c := NewController(tb, fs, ControllerOptions{Now: func() time.Time { return now }, Mover: first})
	c.SetPlans(map[string]strangler.Plan{"users": testPlan()})
	tests := []struct {
		name   string
		mover  *countingMover
		weight int
	}{
		{"the mover given at start", first, 25},
		{"the mover set since", second, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.SetMover(tc.mover)
			firstBefore, secondBefore := first.moves, second.moves
			c.Tick() // the step begins
			fs.serve(true, 150, 0, time.Millisecond)
			fs.serve(false, 150, 0, time.Millisecond)
			now = now.Add(time.Minute)
			c.Tick()
			if r, _ := tb.Route("users"); r.Weight != tc.weight {
				t.Fatalf("route at %d, want %d", r.Weight, tc.weight)
			}
			moved := map[*countingMover]int{first: first.moves - firstBefore, second: second.moves - secondBefore}
			for mv, n := range moved {
				if want := map[bool]int{true: 1, false: 0}[mv == tc.mover]; n != want {
					t.Errorf("a mover made %d moves, want %d", n, want)
				}
			}
		})
	}
}
