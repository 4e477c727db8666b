package strangler

import (
	"errors"
	"strings"
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

func TestTransitionExpect(t *testing.T) {
	plan := testPlan()
	tests := []struct {
		name    string
		judged  Route // what the decision was made on
		current Route // what the table holds when the move is made
		want    Route
		err     error
	}{
		{"unchanged route moves", migRoute(StageCanary, 5), migRoute(StageCanary, 5), migRoute(StageCanary, 25), nil},
		{"a route moved meanwhile is not moved again", migRoute(StageCanary, 5), migRoute(StageCanary, 25), migRoute(StageCanary, 25), ErrStale},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := NewTable([]Route{tc.current})
			if err != nil {
				t.Fatal(err)
			}
			r, err := tb.Move(t.Context(), "users", Promote(&plan).Expect(tc.judged), Action{Actor: "test"})
			if !errors.Is(err, tc.err) {
				t.Fatalf("Move = %v, want %v", err, tc.err)
			}
			if err != nil {
				r, _ = tb.Route("users")
			}
			if r.Stage != tc.want.Stage || r.Weight != tc.want.Weight {
				t.Errorf("route = %s/%d, want %s/%d", r.Stage, r.Weight, tc.want.Stage, tc.want.Weight)
			}
		})
	}
	t.Run("apply validates the result", func(t *testing.T) {
		r := migRoute(StageCanary, 5)
		r.Upstream = ""
		if err := Rollback(nil).Apply(&r); !errors.Is(err, ErrNoTransition) {
			t.Errorf("Apply = %v, want ErrNoTransition", err)
		}
		var zero Transition
		if err := zero.Apply(&r); !errors.Is(err, ErrNoTransition) {
			t.Errorf("zero Apply = %v, want ErrNoTransition", err)
		}
	})
}
