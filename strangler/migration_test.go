package strangler

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func migRoute(stage Stage, weight int) Route {
	return Route{Name: "users", Path: "/api/users", Upstream: "monolith", Function: "users", Stage: stage, Weight: weight, Step: -1}
}

func testPlan() Plan {
	return Plan{Start: StageCanary, Steps: []int{5, 25, 50, 100}, Interval: time.Minute, MinRequests: 100,
		MaxErrorRate: 0.01, MaxLatencyRatio: 1.5, MaxMismatchRate: 0.01, OnFailure: FailRollback}
}

func TestPlanValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Plan)
		wants []string
	}{
		{"valid", func(*Plan) {}, nil},
		{"steps not increasing", func(p *Plan) { p.Steps = []int{5, 5, 50} }, []string{"steps[1]"}},
		{"steps out of range", func(p *Plan) { p.Steps = []int{0, 101} }, []string{"steps[0]", "steps[1]"}},
		{"no steps", func(p *Plan) { p.Steps = nil }, []string{"steps: must not be empty"}},
		{"gates out of range", func(p *Plan) { p.MaxErrorRate, p.MaxMismatchRate, p.MaxLatencyRatio = 2, -1, 0 },
			[]string{"max_error_rate", "max_mismatch_rate", "max_latency_ratio"}},
		{"bad start", func(p *Plan) { p.Start = StageIsolate }, []string{"start"}},
		{"zero interval and requests", func(p *Plan) { p.Interval, p.MinRequests = 0, 0 }, []string{"interval", "min_requests"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPlan()
			tc.edit(&p)
			err := p.Validate()
			if len(tc.wants) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidPlan) {
				t.Fatalf("Validate() = %v, want ErrInvalidPlan", err)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
		})
	}
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

func TestTransitions(t *testing.T) {
	plan := testPlan()
	shadowPlan := testPlan()
	shadowPlan.Start = StageShadow
	type want struct {
		stage  Stage
		weight int
	}
	tests := []struct {
		name  string
		start Route
		plan  *Plan
		do    func(tb *Table, p *Plan) (Route, error)
		want  want
		err   error
	}{
		{"promote legacy without plan goes to shadow", migRoute(StageLegacy, 0), nil, promote, want{StageShadow, 0}, nil},
		{"promote legacy with canary plan", migRoute(StageLegacy, 0), &plan, promote, want{StageCanary, 5}, nil},
		{"promote canary to the next step", migRoute(StageCanary, 5), &plan, promote, want{StageCanary, 25}, nil},
		{"promote canary off-step weight", migRoute(StageCanary, 30), &plan, promote, want{StageCanary, 50}, nil},
		{"promote canary at 100", migRoute(StageCanary, 100), &plan, promote, want{StageIsolate, 100}, nil},
		{"promote isolate to retired", migRoute(StageIsolate, 100), nil, promote, want{StageRetired, 100}, nil},
		{"promote retired", migRoute(StageRetired, 100), nil, promote, want{}, ErrNoTransition},
		{"rollback canary", migRoute(StageCanary, 50), &plan, rollback, want{StageLegacy, 0}, nil},
		{"rollback canary of a shadow plan", migRoute(StageCanary, 50), &shadowPlan, rollback, want{StageShadow, 0}, nil},
		{"rollback retired", migRoute(StageRetired, 100), nil, rollback, want{StageIsolate, 100}, nil},
		{"rollback legacy", migRoute(StageLegacy, 0), nil, rollback, want{}, ErrNoTransition},
		{"set weight", migRoute(StageCanary, 5), nil, func(tb *Table, _ *Plan) (Route, error) {
			return tb.SetWeight("users", 40, Action{Actor: "admin"})
		}, want{StageCanary, 40}, nil},
		{"set weight outside canary", migRoute(StageShadow, 0), nil, func(tb *Table, _ *Plan) (Route, error) {
			return tb.SetWeight("users", 40, Action{Actor: "admin"})
		}, want{}, ErrNoTransition},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := NewTable([]Route{tc.start})
			if err != nil {
				t.Fatal(err)
			}
			r, err := tc.do(tb, tc.plan)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if got, _ := tb.Route("users"); got.Stage != tc.start.Stage {
					t.Errorf("a refused transition changed the stage to %s", got.Stage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Stage != tc.want.stage || r.Weight != tc.want.weight {
				t.Errorf("route = %s/%d, want %s/%d", r.Stage, r.Weight, tc.want.stage, tc.want.weight)
			}
			evs := tb.LatestEvents(1)
			if len(evs) != 1 || evs[0].Actor == "" || evs[0].To != tc.want.stage {
				t.Errorf("events = %+v, want one event to %s with its actor", evs, tc.want.stage)
			}
		})
	}
}

func promote(tb *Table, p *Plan) (Route, error) {
	return tb.Promote("users", p, Action{Actor: "admin", Reason: "test"})
}
func rollback(tb *Table, p *Plan) (Route, error) {
	return tb.Rollback("users", p, Action{Actor: "admin", Reason: "test"})
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
	tb, _ := NewTable([]Route{migRoute(StageCanary, 5)})
	now := time.Unix(1000, 0)
	fs := &fakeSampler{}
	c := NewController(tb, fs, ControllerOptions{Now: func() time.Time { return now }})
	c.SetPlans(map[string]Plan{"users": testPlan()})
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
		if r.Stage == StageIsolate {
			break
		}
	}
	if got := strings.Join(stages, " "); got != "canary/25 canary/50 canary/100 isolate/100" {
		t.Errorf("walk = %s", got)
	}
	for _, ev := range tb.LatestEvents(10) {
		if ev.Actor != ActorController || !strings.Contains(ev.Reason, "gates passed") {
			t.Errorf("event %+v: want the controller's promotion with its reason", ev)
		}
	}
}

func TestControllerRollsBackOnAFailingGate(t *testing.T) {
	tests := []struct {
		name    string
		serve   func(fs *fakeSampler)
		onFail  OnFailure
		stage   Stage
		paused  bool
		inError string
	}{
		{"errors", func(fs *fakeSampler) {
			fs.serve(true, 100, 20, time.Millisecond)
			fs.serve(false, 100, 0, time.Millisecond)
		},
			FailRollback, StageLegacy, false, "error rate"},
		{"slowness", func(fs *fakeSampler) {
			fs.serve(true, 100, 0, 50*time.Millisecond)
			fs.serve(false, 100, 0, time.Millisecond)
		},
			FailRollback, StageLegacy, false, "p99"},
		{"wrong bodies", func(fs *fakeSampler) {
			fs.serve(true, 100, 0, time.Millisecond)
			fs.serve(false, 100, 0, time.Millisecond)
			fs.mu.Lock()
			fs.s.ShadowCompared, fs.s.ShadowMismatches = 100, 30
			fs.mu.Unlock()
		}, FailRollback, StageLegacy, false, "mismatch"},
		{"errors with pause", func(fs *fakeSampler) { fs.serve(true, 100, 50, time.Millisecond) },
			FailPause, StageCanary, true, "error rate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, _ := NewTable([]Route{migRoute(StageCanary, 25)})
			fs := &fakeSampler{}
			now := time.Unix(1000, 0)
			c := NewController(tb, fs, ControllerOptions{Now: func() time.Time { return now }})
			p := testPlan()
			p.OnFailure = tc.onFail
			c.SetPlans(map[string]Plan{"users": p})
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
			if ev.Actor != ActorController || !strings.Contains(ev.Reason, tc.inError) {
				t.Errorf("event = %+v, want the controller's reason mentioning %q", ev, tc.inError)
			}
		})
	}
}

func TestControllerWaitsForMinRequests(t *testing.T) {
	tb, _ := NewTable([]Route{migRoute(StageCanary, 5)})
	fs := &fakeSampler{}
	now := time.Unix(1000, 0)
	c := NewController(tb, fs, ControllerOptions{Now: func() time.Time { return now }})
	c.SetPlans(map[string]Plan{"users": testPlan()})
	c.Tick()
	fs.serve(true, 99, 99, time.Millisecond) // all failing, but too few to judge
	now = now.Add(time.Hour)
	c.Tick()
	if r, _ := tb.Route("users"); r.Stage != StageCanary || r.Weight != 5 {
		t.Errorf("route = %s/%d, want canary/5 untouched", r.Stage, r.Weight)
	}
	if g, _ := c.Gates("users"); g.Verdict != VerdictWaiting {
		t.Errorf("verdict = %s, want waiting", g.Verdict)
	}
}

func TestControllerLeavesPausedRoutes(t *testing.T) {
	r := migRoute(StageCanary, 5)
	r.Paused = true
	tb, _ := NewTable([]Route{r})
	fs := &fakeSampler{}
	now := time.Unix(1000, 0)
	c := NewController(tb, fs, ControllerOptions{Now: func() time.Time { return now }})
	c.SetPlans(map[string]Plan{"users": testPlan()})
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
	plans := map[string]Plan{"users": plan}
	tb, _ := NewTable([]Route{migRoute(StageCanary, 5)})
	if _, err := tb.Promote("users", &plan, Action{Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(tb.CurrentState(plans)); err != nil {
		t.Fatal(err)
	}
	t.Run("progress wins while the plan is unchanged", func(t *testing.T) {
		st, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		got := ApplyState([]Route{migRoute(StageCanary, 5)}, plans, st, false)
		if got[0].Stage != StageCanary || got[0].Weight != 25 {
			t.Errorf("ApplyState = %s/%d, want canary/25", got[0].Stage, got[0].Weight)
		}
		if len(st.Events) != 1 || st.Events[0].Kind != KindPromote {
			t.Errorf("events = %+v", st.Events)
		}
	})
	t.Run("a changed plan resets to router.toml", func(t *testing.T) {
		st, _ := s.Load()
		changed := plan
		changed.Steps = []int{10, 100}
		got := ApplyState([]Route{migRoute(StageCanary, 10)}, map[string]Plan{"users": changed}, st, false)
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
		got := ApplyState([]Route{migRoute(StageCanary, 50)}, plans, st, true)
		if got[0].Stage != StageLegacy || !got[0].Paused {
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
	tb, _ := NewTable([]Route{migRoute(StageCanary, 5)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tb.Persist(ctx, s, func() map[string]Plan { return map[string]Plan{"users": plan} }, func(err error) { t.Error(err) })
	}()
	if _, err := tb.Promote("users", &plan, Action{Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done // Persist saves once more before it returns
	st, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Routes) != 1 || st.Routes[0].Weight != 25 || st.Routes[0].Plan != plan.Hash(migRoute(StageCanary, 5)) {
		t.Errorf("saved = %+v, want users at 25 with its plan hash", st.Routes)
	}
}

func TestPersisterWaitSaved(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := NewTable([]Route{migRoute(StageCanary, 5)})
	p := NewPersister(tb, s, func() map[string]Plan { return nil }, func(err error) { t.Error(err) })
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { p.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	for range 20 {
		if _, err := tb.SetWeight("users", 7, Action{Actor: "admin"}); err != nil {
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
