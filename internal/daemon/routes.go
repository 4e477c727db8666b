package daemon

import (
	"errors"
	"fmt"
		"reflect"
	"slices"

	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/strangler"
)

// tableRoutes converts the file's [[routes]] into strangler routes, at the stage and
// weight the file gives and with no migration step (-1).
//
// Both start-up and `edged validate` come through here, so this is also where a file
// with an enqueue route is refused: the daemon does not run those yet, and serving
// such a file without them would drop its events silently.
func tableRoutes(cfg *config.Config) ([]strangler.Route, error) {
	if err := eventsUnserved(cfg); err != nil {
		return nil, err
	}
	out := make([]strangler.Route, 0, len(cfg.Routes))
	for i, r := range cfg.Routes {
		st, err := strangler.ParseStage(r.Stage)
		if err != nil {
			return nil, fmt.Errorf("routes[%d].stage: %w", i, err)
		}
		out = append(out, strangler.Route{
			Name:         r.Name,
			Host:         r.Host,
			Path:         r.Path,
			Methods:      slices.Clone(r.Methods),
			Upstream:     r.Upstream,
			Function:     r.Function,
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
// under the same migration plan: path, host, methods, upstream, function and
// migration. Stage and weight are not part of the definition.
func sameDefinition(a, b config.Route) bool {
	return a.Path == b.Path && a.Host == b.Host && slices.Equal(a.Methods, b.Methods) &&
		a.Upstream == b.Upstream && a.Function == b.Function &&
		reflect.DeepEqual(a.Migration, b.Migration)
}

// errEventsUnserved is the answer to a file that asks for event triggers.
var errEventsUnserved = errors.New("not served by this daemon yet (docs/events.md, \"What runs today\"): " +
	"remove it, or embed the events package in your own Go program")

// eventsUnserved names every part of cfg that needs what the daemon does not
// run yet: enqueue routes.
func eventsUnserved(cfg *config.Config) error {
	var errs []error
	for i, r := range cfg.Routes {
		if r.Enqueue != "" {
			errs = append(errs, fmt.Errorf("routes[%d].enqueue: %w", i, errEventsUnserved))
		}
	}
	return errors.Join(errs...)
}
