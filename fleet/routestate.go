package fleet

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/edged/edged/strangler"
)

// RouteState is one route's state as the fleet keeps it: the value of the
// route's key in the routes bucket (JSON), and of its entry in the
// last-known-good cache.
type RouteState struct {
	Name   string          `json:"name"`
	Stage  strangler.Stage `json:"stage"`
	Weight int             `json:"weight"`
	Step   int             `json:"step"`
	Paused bool            `json:"paused"`
	// Plan is the strangler.Plan.Hash of the plan the progress belongs to
	// ("" for a route without a plan). A node whose own plan for the route
	// hashes differently (its router.toml differs) does not apply the state.
	Plan string `json:"plan,omitempty"`
	// Generation counts the writes of this route's key, from 1.
	Generation uint64 `json:"generation"`
	// Term is the highest leader term (Election.Term) whose controller
	// wrote the route; 0 until one did. Writes of older terms are refused
	// (State.Fenced); people's changes keep it.
	Term uint64 `json:"term,omitempty"`
	// Kind, Actor and Reason describe the change that wrote the state; every
	// node records them in its event history when it applies the state.
	Kind   string `json:"kind,omitempty"`
	Actor  string `json:"actor,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Node wrote the state, at Time.
	Node string    `json:"node,omitempty"`
	Time time.Time `json:"time"`
}

// maxStateBytes bounds a value read from the bucket: a route's state is a
// few hundred bytes; anything far larger is not ours.
const maxStateBytes = 16 << 10

func decodeState(b []byte) (RouteState, error) {
	var st RouteState
	if len(b) > maxStateBytes {
		return st, fmt.Errorf("route state of %d bytes (at most %d)", len(b), maxStateBytes)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("route state: %w", err)
	}
	if err := st.check(); err != nil {
		return st, err
	}
	return st, nil
}

// check refuses a state no route could hold.
func (st RouteState) check() error {
	if st.Name == "" || !st.Stage.Valid() || st.Weight < 0 || st.Weight > 100 || st.Step < -1 {
		return fmt.Errorf("route state %q: invalid stage, weight or step (%s, %d, %d)", st.Name, st.Stage, st.Weight, st.Step)
	}
	return nil
}

// same reports whether r already holds st's stage, weight, step and pause.
func (st RouteState) same(r strangler.Route) bool {
	return r.Stage == st.Stage && r.Weight == st.Weight && r.Step == st.Step && r.Paused == st.Paused
}

// set copies st's progress onto r.
func (st RouteState) set(r *strangler.Route) {
	r.Stage, r.Weight, r.Step, r.Paused = st.Stage, st.Weight, st.Step, st.Paused
}

// stateOf is r's progress as a RouteState with plan hash h.
func stateOf(r strangler.Route, h string) RouteState {
	return RouteState{Name: r.Name, Stage: r.Stage, Weight: r.Weight, Step: r.Step, Paused: r.Paused, Plan: h}
}
