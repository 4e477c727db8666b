package admin

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/edged/edged/fleet"
	"github.com/edged/edged/strangler"
)

// Fleet is what the admin API shows of a fleet (package fleet's State):
// every node and where they disagree, and the fleet-wide route history.
type Fleet interface {
	Status(ctx context.Context) fleet.Status
	History(ctx context.Context, route string, limit int) ([]strangler.Event, error)
}

// fleetStatus serves GET /v1/fleet: the nodes of the fleet ([fleet] state =
// "nats"), 501 for a node on its own.
func (a *API) fleetStatus(w http.ResponseWriter, r *http.Request) {
	if a.c.Fleet == nil {
		writeJSONError(w, http.StatusNotImplemented, `this node is not in a fleet ([fleet] state = "file")`)
		return
	}
	writeJSON(w, http.StatusOK, a.c.Fleet.Status(r.Context()))
}

// fleetEvents serves GET /v1/fleet/events?route=NAME&limit=N: the newest
// changes made on any node, from the fleet's event stream.
func (a *API) fleetEvents(w http.ResponseWriter, r *http.Request) {
	if a.c.Fleet == nil {
		writeJSONError(w, http.StatusNotImplemented, `this node is not in a fleet ([fleet] state = "file")`)
		return
	}
	q := r.URL.Query()
	limit := defaultEventsLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("limit: %q is not a positive number", s))
			return
		}
		limit = min(n, maxEventsLimit)
	}
	evs, err := a.c.Fleet.History(r.Context(), q.Get("route"), limit)
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		out = append(out, toEvent(e))
	}
	writeJSON(w, http.StatusOK, eventPage{Events: out})
}

// Fleet returns the fleet's nodes as the answering node sees them (GET
// /v1/fleet); a node not in a fleet answers an *Error with status 501.
func (c *Client) Fleet(ctx context.Context) (fleet.Status, error) {
	var out fleet.Status
	err := c.do(ctx, http.MethodGet, "/v1/fleet", nil, &out)
	return out, err
}
