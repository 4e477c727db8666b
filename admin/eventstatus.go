//go:build !noevents

package admin

import (
	"context"
	"net/http"

	"github.com/edged/edged/events"
)

// EventsEngine is what the event endpoints read and act on (GET
// /v1/events/{id}, the dead letters of a trigger and their redrive):
// events.Server satisfies it.
type EventsEngine interface {
	// Status returns one record per trigger that finished the event source+id
	// (done or dead-lettered); none while it is pending or if it is unknown.
	Status(ctx context.Context, source, id string) ([]events.Record, error)
	// DeadLetters lists a running trigger's dead letters, oldest first;
	// events.ErrNotFound for an unknown trigger.
	DeadLetters(ctx context.Context, trigger string) ([]events.DeadLetter, error)
	// Redrive publishes the dead letter with event id again; events.ErrNotFound
	// for an unknown trigger or id.
	Redrive(ctx context.Context, trigger, id string) error
	// RedriveAll redrives every dead letter and returns how many.
	RedriveAll(ctx context.Context, trigger string) (int, error)
	// Triggers returns the state of every running trigger, by name.
	Triggers(ctx context.Context) ([]events.Info, error)
	// Publish publishes data as a CloudEvent of type ceType on subject and
	// returns its id; events.ErrNoStream when no stream captures subject.
	Publish(ctx context.Context, subject, ceType string, data []byte) (string, error)
}

// maxEventAttr bounds the id and source of a status query, as events bounds
// CloudEvents attributes.
const maxEventAttr = 1024

// eventStatusAnswer is the body of GET /v1/events/{id}.
type eventStatusAnswer struct {
	ID     string `json:"id"`
	Source string `json:"source"`
	// State is StatePending, events.StateDone when every trigger that
	// finished it is done, or events.StateDead when one dead-lettered it.
	State    string          `json:"state"`
	Triggers []events.Record `json:"triggers"`
}

// eventStatus serves GET /v1/events/{id}?source=S: the state of an event, for
// the "status" link an enqueue route answers with. source defaults to
// events.DefaultSource, the source of events the engine publishes itself.
func (a *API) eventStatus(w http.ResponseWriter, r *http.Request) {
	if a.c.Events == nil {
		writeJSONError(w, http.StatusNotImplemented, "events are not enabled")
		return
	}
	id, source := r.PathValue("id"), r.URL.Query().Get("source")
	if source == "" {
		source = events.DefaultSource
	}
	if len(id) > maxEventAttr || len(source) > maxEventAttr {
		writeJSONError(w, http.StatusBadRequest, "id or source too long")
		return
	}
	recs, err := a.c.Events.Status(r.Context(), source, id)
	if err != nil {
		a.log.Error("event status", "id", id, "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "events engine unavailable")
		return
	}
	ans := eventStatusAnswer{ID: id, Source: source, State: StatePending, Triggers: recs}
	if ans.Triggers == nil {
		ans.Triggers = []events.Record{}
	}
	for _, rec := range recs {
		if rec.State == events.StateDead {
			ans.State = events.StateDead
			break
		}
		ans.State = events.StateDone
	}
	writeJSON(w, http.StatusOK, ans)
}
