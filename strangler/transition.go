package strangler

import (
	"errors"
	"fmt"
)

// The stage machine, shared by people (admin API, CLI) and the migration
// controller so that a promotion means the same thing whoever asks for it.
// Each transition is one Table.Update: one transaction, one event.

// DefaultSteps are the canary weights a route without a plan walks through
// when promoted by hand.
var defaultSteps = [...]int{5, 25, 50, 100}

// ErrNoTransition means the requested move does not exist from the route's
// current stage (promoting a retired route, rolling back a legacy one).
var ErrNoTransition = errors.New("no such transition from this stage")

// Action names a manual or automatic change of a route.
type Action struct {
	Actor  string // "admin", "cli", ActorController
	Reason string
}

func stepsOf(p *Plan) []int {
	if p != nil && len(p.Steps) > 0 {
		return p.Steps
	}
	return defaultSteps[:]
}

// Promote moves a route one step forward: legacy → the plan's start (shadow
// without a plan) → canary at the first step → each next step → isolate
// after the last (100%) step → retired. plan may be nil.
func (t *Table) Promote(name string, plan *Plan, a Action) (Route, error) {
	return t.Update(name, Event{Kind: KindPromote, Actor: a.Actor, Reason: a.Reason}, func(r *Route) error {
		steps := stepsOf(plan)
		switch r.Stage {
		case StageLegacy:
			if plan != nil && plan.Start == StageCanary {
				r.Stage, r.Step, r.Weight = StageCanary, 0, steps[0]
			} else {
				r.Stage, r.Step, r.Weight = StageShadow, -1, 0
			}
		case StageShadow:
			r.Stage, r.Step, r.Weight = StageCanary, 0, steps[0]
		case StageCanary:
			next := nextStep(steps, r.Weight)
			if next < 0 {
				r.Stage, r.Step, r.Weight = StageIsolate, -1, 100
			} else {
				r.Step, r.Weight = next, steps[next]
			}
		case StageIsolate:
			r.Stage, r.Step, r.Weight = StageRetired, -1, 100
		default:
			return fmt.Errorf("promote from %s: %w", r.Stage, ErrNoTransition)
		}
		return nil
	})
}

// nextStep returns the index of the first step above weight, or -1 when
// weight is at or past the last step.
func nextStep(steps []int, weight int) int {
	for i, s := range steps {
		if s > weight {
			if s == 100 && weight >= 100 {
				return -1
			}
			return i
		}
	}
	return -1
}

// Rollback returns a route to where its migration began: canary and isolate
// go back to legacy (to shadow when the plan starts in shadow), shadow to
// legacy, retired to isolate (legacy is called again). plan may be nil.
func (t *Table) Rollback(name string, plan *Plan, a Action) (Route, error) {
	return t.Update(name, Event{Kind: KindRollback, Actor: a.Actor, Reason: a.Reason}, func(r *Route) error {
		switch r.Stage {
		case StageCanary, StageIsolate:
			if plan != nil && plan.Start == StageShadow {
				r.Stage = StageShadow
			} else {
				r.Stage = StageLegacy
			}
			r.Step, r.Weight = -1, 0
		case StageShadow:
			r.Stage, r.Step, r.Weight = StageLegacy, -1, 0
		case StageRetired:
			r.Stage, r.Step, r.Weight = StageIsolate, -1, 100
		default:
			return fmt.Errorf("rollback from %s: %w", r.Stage, ErrNoTransition)
		}
		if r.Upstream == "" && r.Stage != StageRetired {
			return fmt.Errorf("rollback to %s needs an upstream: %w", r.Stage, ErrNoTransition)
		}
		return nil
	})
}

// SetPaused pauses or resumes a route's migration. A paused route keeps its
// stage and weight; the controller leaves it alone, people may still move it.
func (t *Table) SetPaused(name string, paused bool, a Action) (Route, error) {
	kind := KindResume
	if paused {
		kind = KindPause
	}
	return t.Update(name, Event{Kind: kind, Actor: a.Actor, Reason: a.Reason}, func(r *Route) error {
		r.Paused = paused
		return nil
	})
}

// SetWeight sets a canary's weight (0..100). Other stages refuse it with
// ErrNoTransition: a weight means nothing outside the canary stage, and
// jumping a legacy route to a canary by accident would expose users.
func (t *Table) SetWeight(name string, weight int, a Action) (Route, error) {
	return t.Update(name, Event{Kind: KindSetWeight, Actor: a.Actor, Reason: a.Reason}, func(r *Route) error {
		if weight < 0 || weight > 100 {
			return fmt.Errorf("weight %d must be between 0 and 100", weight)
		}
		if r.Stage != StageCanary {
			return fmt.Errorf("set weight in %s: %w", r.Stage, ErrNoTransition)
		}
		r.Weight, r.Step = weight, -1
		return nil
	})
}
