package strangler

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Stage is where a route stands in its migration from the legacy monolith to a WebAssembly isolate. The stages are
// ordered: a promotion moves a route to a higher Stage, a rollback to a lower one. The zero value is StageLegacy.
type Stage uint8

// The stages, in migration order. See README.md, "Architecture", for what the router does in each.
const (
	// StageLegacy proxies every request to the route's upstream.
	StageLegacy Stage = iota
	// StageShadow answers from legacy and mirrors a copy of the request to the isolate for comparison.
	StageShadow
	// StageCanary sends Route.Weight percent of users (sticky by Route.Sticky) to the isolate.
	StageCanary
	// StageIsolate sends all traffic to the isolate, falling back to legacy when that is safe.
	StageIsolate
	// StageRetired sends all traffic to the isolate; legacy is never called.
	StageRetired

	numStages = iota
)

// ErrUnknownStage is returned (wrapped) by ParseStage and Stage.UnmarshalText for a name that is not a stage.
var ErrUnknownStage = errors.New("unknown stage")

var stageNames = [numStages]string{"legacy", "shadow", "canary", "isolate", "retired"}

// String returns the stage's lower-case name ("legacy", "shadow", ...), or "Stage(N)" for a value out of range.
func (s Stage) String() string {
	if s.Valid() {
		return stageNames[s]
	}
	return "Stage(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is one of the five defined stages.
func (s Stage) Valid() bool { return s < numStages }

// ParseStage returns the stage named s. Matching ignores ASCII case and surrounding spaces, so "Canary" parses; any
// other string gives an error wrapping ErrUnknownStage.
func ParseStage(s string) (Stage, error) {
	t := strings.TrimSpace(s)
	for i, name := range stageNames {
		if strings.EqualFold(t, name) {
			return Stage(i), nil
		}
	}
	return 0, fmt.Errorf("parse stage %q: %w", s, ErrUnknownStage)
}

// MarshalText encodes s as its name, so stages read well in JSON and TOML. A stage out of range is an error.
func (s Stage) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("marshal %v: %w", s, ErrUnknownStage)
	}
	return []byte(stageNames[s]), nil
}

// UnmarshalText decodes a stage name as ParseStage does. On error *s is left unchanged.
func (s *Stage) UnmarshalText(text []byte) error {
	v, err := ParseStage(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
