//go:build !noevents

package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/edged/edged/events"
)

// deadLetters serves GET /v1/triggers/{name}/dead-letters.
func (a *API) deadLetters(w http.ResponseWriter, r *http.Request) {
	if a.c.Events == nil {
		writeJSONError(w, http.StatusNotImplemented, "events are not enabled")
		return
	}
	name := r.PathValue("name")
	dls, err := a.c.Events.DeadLetters(r.Context(), name)
	if a.eventsError(w, err) {
		return
	}
	out := deadLetterPage{Trigger: name, DeadLetters: make([]DeadLetter, 0, len(dls))}
	for _, d := range dls {
		out.DeadLetters = append(out.DeadLetters, DeadLetter{
			Seq: d.Seq, ID: d.ID, Source: d.Source, Type: d.Type, Reason: d.Reason, Attempts: d.Attempts,
			LastStatus: d.LastStatus, LastError: d.LastError, TraceID: d.TraceID, Subject: d.Subject,
			Time: d.Time, DataBytes: len(d.Data),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// redrive serves POST /v1/triggers/{name}/redrive.
func (a *API) redrive(w http.ResponseWriter, r *http.Request) {
	if a.c.Events == nil {
		writeJSONError(w, http.StatusNotImplemented, "events are not enabled")
		return
	}
	var req RedriveRequest
	data, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		err = json.Unmarshal(data, &req)
	}
	if err != nil || (req.ID == "") == !req.All {
		writeJSONError(w, http.StatusBadRequest, `body must be {"id": "EVENT-ID"} or {"all": true}`)
		return
	}
	name := r.PathValue("name")
	n := 1
	if req.All {
		n, err = a.c.Events.RedriveAll(r.Context(), name)
	} else {
		err = a.c.Events.Redrive(r.Context(), name, req.ID)
	}
	if a.eventsError(w, err) {
		return
	}
	a.log.Info("redrive", "trigger", name, "id", req.ID, "all", req.All, "redriven", n)
	writeJSON(w, http.StatusOK, redriveAnswer{Redriven: n})
}

// eventsError answers err, if any: 404 for an unknown trigger or event, 503
// otherwise. It reports whether it answered.
func (a *API) eventsError(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, events.ErrNotFound):
		writeJSONError(w, http.StatusNotFound, err.Error())
	default:
		a.log.Error("events", "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "events engine: "+err.Error())
	}
	return true
}

// maxPublish bounds the data of POST /v1/publish: events' default body cap.
const maxPublish = 1 << 20

// publish serves POST /v1/publish?subject=S&type=T: the body is published as
// the data of a CloudEvent (source events.DefaultSource, a fresh id), for
// operators and tests (`edged publish`).
func (a *API) publish(w http.ResponseWriter, r *http.Request) {
	if a.c.Events == nil {
		writeJSONError(w, http.StatusNotImplemented, "events are not enabled")
		return
	}
	q := r.URL.Query()
	subject, typ := q.Get("subject"), q.Get("type")
	if typ == "" {
		typ = DefaultPublishType
	}
	if err := events.ValidSubject(subject); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(typ) > maxEventAttr {
		writeJSONError(w, http.StatusBadRequest, "type too long")
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxPublish+1))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if len(data) > maxPublish {
		writeJSONError(w, http.StatusRequestEntityTooLarge, "data over 1MiB")
		return
	}
	id, err := a.c.Events.Publish(r.Context(), subject, typ, data)
	switch {
	case errors.Is(err, events.ErrNoStream):
		writeJSONError(w, http.StatusUnprocessableEntity, err.Error())
		return
	case a.eventsError(w, err):
		return
	}
	a.log.Info("publish", "subject", subject, "type", typ, "id", id, "bytes", len(data))
	writeJSON(w, http.StatusOK, publishAnswer{ID: id})
}

// triggers serves GET /v1/triggers.
func (a *API) triggers(w http.ResponseWriter, r *http.Request) {
	if a.c.Events == nil {
		writeJSONError(w, http.StatusNotImplemented, "events are not enabled")
		return
	}
	infos, err := a.c.Events.Triggers(r.Context())
	if a.eventsError(w, err) {
		return
	}
	out := triggerPage{Triggers: make([]Trigger, 0, len(infos))}
	for _, in := range infos {
		out.Triggers = append(out.Triggers, Trigger{
			Name: in.Trigger, Subject: in.Subject, Schedule: in.Schedule, DeadLetter: in.DeadLetter, Dedup: in.Dedup,
			Stream: in.Stream, Consumer: in.Consumer, Pending: in.Pending, InFlight: in.InFlight,
			Redelivered: in.Redelivered, Delivered: in.Delivered, DeadLetters: in.DeadLetters,
		})
	}
	writeJSON(w, http.StatusOK, out)
}
