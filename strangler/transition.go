package strangler

import (
	"context"
	"errors"
	"fmt"
)

// The stage machine, shared by people (admin API, CLI) and the migration
// controller so that a promotion means the same thing whoever asks for it.
// A Transition is a value: a Table applies it to its own route (Table.Move,
// one Table.Update: one transaction, one event), and a store that keeps the
// state elsewhere (package fleet: a NATS KV bucket shared by every node)
// applies the same value to the state it read, so a fleet-wide promotion is
// the same step as a local one.

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

// Transition is one move of the stage machine: Promote, Rollback, Pause or
// SetWeight. The zero value is not a transition.
type Transition struct {
	// Kind is the Event kind the move records (KindPromote, ...).
	Kind string
	fn   func(r *Route) error
}

// Apply moves r in place and checks the result like Table.Update does: an
// error matching ErrNoTransition when the move does not exist from r's
// stage, ErrInvalidRoute when the result is not a valid route, and
// ErrStale for a transition made with Expect when r has moved since. On
// error r may be half-changed; apply to a copy.
func (tr Transition) Apply(r *Route) error {
	if tr.fn == nil {
		return fmt.Errorf("empty transition: %w", ErrNoTransition)
	}
	if err := tr.fn(r); err != nil {
		return err
	}
	return errors.Join(validateRoute(nil, -1, r)...)
}

// ErrStale means a transition made with Expect found the route moved since
// it was read: the decision was made on an old state and is not applied.
var ErrStale = errors.New("route changed since it was read")

// Expect returns tr applying only while the route is still at r's stage,
// weight, step and pause flag. The migration controller decides on what it
// read; if another node or a person moved the route meanwhile, the decision
// is dropped instead of being applied a second time.
func (tr Transition) Expect(r Route) Transition {
	fn := tr.fn
	tr.fn = func(cur *Route) error {
		if cur.Stage != r.Stage || cur.Weight != r.Weight || cur.Step != r.Step || cur.Paused != r.Paused {
			return fmt.Errorf("%w: %s/%d is now %s/%d", ErrStale, r.Stage, r.Weight, cur.Stage, cur.Weight)
		}
		if fn == nil {
			return fmt.Errorf("empty transition: %w", ErrNoTransition)
		}
		return fn(cur)
	}
	return tr
}

// Mover moves routes. *Table moves its own routes (Table.Move); package
// fleet moves the route state every node of a fleet applies. The admin API
// and the migration controller change routes through a Mover only.
type Mover interface {
	Move(ctx context.Context, name string, tr Transition, a Action) (Route, error)
}

// ErrUnavailable is matched by the errors of a Mover whose state lives
// elsewhere and cannot be reached: the change was not made (the admin API
// answers 503).
var ErrUnavailable = errors.New("route state store unavailable")

var _ Mover = (*Table)(nil)

// Move applies tr to the named route in one Table.Update (ctx is not used: a
// table's change does not block).
func (t *Table) Move(_ context.Context, name string, tr Transition, a Action) (Route, error) {
	if tr.fn == nil {
		return Route{}, fmt.Errorf("move %q: empty transition: %w", name, ErrNoTransition)
	}
	return t.Update(name, Event{Kind: tr.Kind, Actor: a.Actor, Reason: a.Reason}, tr.fn)
}

// Promote moves a route one step forward: legacy → the plan's start (shadow
// without a plan) → canary at the first step → each next step → isolate
// after the last (100%) step → retired. plan may be nil.
func (t *Table) Promote(name string, plan *Plan, a Action) (Route, error) {
	return t.Move(context.Background(), name, Promote(plan), a)
}

// Rollback returns a route to where its migration began; see the function
// Rollback. plan may be nil.
func (t *Table) Rollback(name string, plan *Plan, a Action) (Route, error) {
	return t.Move(context.Background(), name, Rollback(plan), a)
}

// SetPaused pauses or resumes a route's migration; see Pause.
func (t *Table) SetPaused(name string, paused bool, a Action) (Route, error) {
	return t.Move(context.Background(), name, Pause(paused), a)
}

// SetWeight sets a canary's weight; see SetWeight.
func (t *Table) SetWeight(name string, weight int, a Action) (Route, error) {
	return t.Move(context.Background(), name, SetWeight(weight), a)
}

// Promote is the move one step forward: legacy → the plan's start (shadow
// without a plan) → canary at the first step → each next step → isolate
// after the last (100%) step → retired. plan may be nil.
func Promote(plan *Plan) Transition {
	steps := stepsOf(plan)
	start := StageShadow
	if plan != nil && plan.Start == StageCanary {
		start = StageCanary
	}
	return Transition{Kind: KindPromote, fn: func(r *Route) error {
		switch r.Stage {
		case StageLegacy:
			if start == StageCanary {
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
	}}
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

// Rollback is the move back to where a route's migration began: canary and
// isolate go back to legacy (to shadow when the plan starts in shadow),
// shadow to legacy, retired to isolate (legacy is called again). plan may be
// nil.
func Rollback(plan *Plan) Transition {
	back := StageLegacy
	if plan != nil && plan.Start == StageShadow {
		back = StageShadow
	}
	return Transition{Kind: KindRollback, fn: func(r *Route) error {
		switch r.Stage {
		case StageCanary, StageIsolate:
			r.Stage = back
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
	}}
}

// Pause pauses (or, with false, resumes) a route's migration. A paused route
// keeps its stage and weight; the controller leaves it alone, people may
// still move it.
func Pause(paused bool) Transition {
	kind := KindResume
	if paused {
		kind = KindPause
	}
	return Transition{Kind: kind, fn: func(r *Route) error {
		r.Paused = paused
		return nil
	}}
}

// SetWeight sets a canary's weight (0..100). Other stages refuse it with
// ErrNoTransition: a weight means nothing outside the canary stage, and
// jumping a legacy route to a canary by accident would expose users.
func SetWeight(weight int) Transition {
	return Transition{Kind: KindSetWeight, fn: func(r *Route) error {
		if weight < 0 || weight > 100 {
			return fmt.Errorf("weight %d must be between 0 and 100", weight)
		}
		if r.Stage != StageCanary {
			return fmt.Errorf("set weight in %s: %w", r.Stage, ErrNoTransition)
		}
		r.Weight, r.Step = weight, -1
		return nil
	}}
}
