package strangler

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// OnFailure says what a migration does when a gate fails.
type OnFailure uint8

const (
	// FailRollback returns the route to where the plan began (legacy, or
	// shadow for a plan that starts in shadow).
	FailRollback OnFailure = iota
	// FailPause freezes the route at its current step for a person to decide.
	FailPause
)

// Plan is a route's migration plan, from router.toml's [routes.migration].
// The zero value is not a usable plan; see Validate.
type Plan struct {
	// Start is where the migration begins: StageShadow or StageCanary.
	Start Stage
	// Steps are the canary weights, strictly increasing, each 1..100. After
	// the last one the route moves to StageIsolate.
	Steps []int
	// Interval is how long each step must hold before it can be promoted.
	Interval time.Duration
	// MinRequests is how many isolate requests (or shadow comparisons) a
	// step needs before its gates are judged.
	MinRequests int
	// MaxErrorRate bounds the isolate's error rate (5xx and limit breaches)
	// above legacy's own rate on the same route, as a fraction (0.01 = 1
	// point above legacy).
	MaxErrorRate float64
	// MaxLatencyRatio bounds isolate p99 / legacy p99.
	MaxLatencyRatio float64
	// MaxMismatchRate bounds shadow mismatches / comparisons.
	MaxMismatchRate float64
	// OnFailure is what a failed gate does.
	OnFailure OnFailure
}

// ErrInvalidPlan is matched by every error of Plan.Validate.
var ErrInvalidPlan = errors.New("invalid migration plan")

// Validate reports every problem of p, joined.
func (p Plan) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalidPlan, field, fmt.Sprintf(format, args...)))
	}
	if p.Start != StageShadow && p.Start != StageCanary {
		bad("start", "must be shadow or canary, not %s", p.Start)
	}
	if len(p.Steps) == 0 {
		bad("steps", "must not be empty")
	}
	for i, w := range p.Steps {
		if w < 1 || w > 100 {
			bad(fmt.Sprintf("steps[%d]", i), "%d must be between 1 and 100", w)
		}
		if i > 0 && w <= p.Steps[i-1] {
			bad(fmt.Sprintf("steps[%d]", i), "%d must be greater than %d", w, p.Steps[i-1])
		}
	}
	if p.Interval <= 0 {
		bad("interval", "must be > 0")
	}
	if p.MinRequests < 1 {
		bad("min_requests", "must be >= 1")
	}
	if p.MaxErrorRate < 0 || p.MaxErrorRate > 1 {
		bad("max_error_rate", "%v must be between 0 and 1", p.MaxErrorRate)
	}
	if p.MaxLatencyRatio <= 0 {
		bad("max_latency_ratio", "must be > 0")
	}
	if p.MaxMismatchRate < 0 || p.MaxMismatchRate > 1 {
		bad("max_mismatch_rate", "%v must be between 0 and 1", p.MaxMismatchRate)
	}
	if p.OnFailure > FailPause {
		bad("on_failure", "unknown value %d", p.OnFailure)
	}
	return errors.Join(errs...)
}

// Hash identifies a plan together with the route it moves, so that progress
// persisted for one plan is not applied to another: when a team edits a
// route's migration block (or what the route points at), the stored progress
// no longer applies and router.toml's stage does again.
func (p Plan) Hash(r Route) string {
	h := sha256.New()
	w := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	w(r.Name)
	w(r.Host)
	w(r.Path)
	for _, m := range r.Methods {
		w(m)
	}
	w(r.Upstream)
	w(r.Function)
	w(p.Start.String())
	for _, s := range p.Steps {
		w(strconv.Itoa(s))
	}
	w(p.Interval.String())
	w(strconv.Itoa(p.MinRequests))
	w(strconv.FormatFloat(p.MaxErrorRate, 'g', -1, 64))
	w(strconv.FormatFloat(p.MaxLatencyRatio, 'g', -1, 64))
	w(strconv.FormatFloat(p.MaxMismatchRate, 'g', -1, 64))
	w(strconv.Itoa(int(p.OnFailure)))
	return hex.EncodeToString(h.Sum(nil)[:12])
}
