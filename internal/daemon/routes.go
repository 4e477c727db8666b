package daemon

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/strangler"
)

// tableRoutes converts the file's [[routes]] into strangler routes, at the stage and
// weight the file gives and with no migration step (-1).
// An enqueue route becomes a legacy route with no target and its subject in
// strangler.Route.Enqueue: the router publishes its requests and it never
// migrates (the file may give it no stage, upstream or function).
func tableRoutes(cfg *config.Config) ([]strangler.Route, error) {
	out := make([]strangler.Route, 0, len(cfg.Routes))
	for i, r := range cfg.Routes {
		st := strangler.StageLegacy
		if r.Enqueue == "" {
			var err error
			if st, err = strangler.ParseStage(r.Stage); err != nil {
				return nil, fmt.Errorf("routes[%d].stage: %w", i, err)
			}
		}
		out = append(out, strangler.Route{
			Name:         r.Name,
			Host:         r.Host,
			Path:         r.Path,
			Methods:      slices.Clone(r.Methods),
			Upstream:     r.Upstream,
			Function:     r.Function,
			Enqueue:      r.Enqueue,
			Stage:        st,
			Weight:       r.Weight,
			Sticky:       r.Sticky,
			MirrorUnsafe: r.MirrorUnsafe,
			Step:         -1,
		})
	}
	return out, nil
}

// mergeRoutes returns the routes of next for a reload. A route whose definition did
// not change between the file as last applied (prev) and the new file keeps the stage,
// weight, step and pause it has at run time (live), because operators and the
// migration controller move those and a reload must not undo their work. Any other
// route, new or redefined, starts where the new file says; so does a route whose
// stage or weight was edited in the file, since that edit is an explicit instruction.
func mergeRoutes(prev, next *config.Config, live []strangler.Route) ([]strangler.Route, error) {
	out, err := tableRoutes(next)
	if err != nil {
		return nil, err
	}
	before := make(map[string]config.Route, len(prev.Routes))
	for _, r := range prev.Routes {
		before[r.Name] = r
	}
	now := make(map[string]strangler.Route, len(live))
	for _, r := range live {
		now[r.Name] = r
	}
	for i, r := range next.Routes {
		old, ok := before[r.Name]
		if !ok || !sameDefinition(old, r) || old.Stage != r.Stage || old.Weight != r.Weight {
			continue
		}
		cur, ok := now[r.Name]
		if !ok {
			continue
		}
		out[i].Stage = cur.Stage
		out[i].Weight = cur.Weight
		out[i].Step = cur.Step
		out[i].Paused = cur.Paused
	}
	return out, nil
}

// sameDefinition reports whether a and b route the same requests to the same targets
// under the same migration plan: path, host, methods, upstream, function, enqueue
// subject and migration. Stage and weight are not part of the definition.
func sameDefinition(a, b config.Route) bool {
	return a.Path == b.Path && a.Host == b.Host && slices.Equal(a.Methods, b.Methods) &&
		a.Upstream == b.Upstream && a.Function == b.Function && a.Enqueue == b.Enqueue &&
		reflect.DeepEqual(a.Migration, b.Migration)
}
