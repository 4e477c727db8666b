package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/edged/edged/events"
)

// DeadLetter is a dead letter as the admin API shows it (events.DeadLetter
// without the message: its data size only, since data may be large or
// sensitive).
type DeadLetter struct {
	Seq        uint64    `json:"seq"`
	ID         string    `json:"id"`
	Source     string    `json:"source"`
	Type       string    `json:"type"`
	Reason     string    `json:"reason"`
	Attempts   int       `json:"attempts"`
	LastStatus int       `json:"last_status,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	TraceID    string    `json:"trace_id,omitempty"`
	Subject    string    `json:"subject"`
	Time       time.Time `json:"time"`
	DataBytes  int       `json:"data_bytes"`
}

type deadLetterPage struct {
	Trigger     string       `json:"trigger"`
	DeadLetters []DeadLetter `json:"dead_letters"`
}

// RedriveRequest is the body of POST /v1/triggers/{name}/redrive: exactly
// one of ID and All.
type RedriveRequest struct {
	ID  string `json:"id,omitempty"`
	All bool   `json:"all,omitempty"`
}

type redriveAnswer struct {
	Redriven int `json:"redriven"`
}

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

// DeadLetters lists the dead letters of the trigger name (GET
// /v1/triggers/{name}/dead-letters), oldest first.
func (c *Client) DeadLetters(ctx context.Context, name string) ([]DeadLetter, error) {
	var out deadLetterPage
	err := c.do(ctx, http.MethodGet, "/v1/triggers/"+url.PathEscape(name)+"/dead-letters", nil, &out)
	return out.DeadLetters, err
}

// Redrive publishes dead letters of the trigger name again (POST
// /v1/triggers/{name}/redrive): the one with event id, or every one with all.
// It returns how many it redrove.
func (c *Client) Redrive(ctx context.Context, name string, req RedriveRequest) (int, error) {
	var out redriveAnswer
	err := c.do(ctx, http.MethodPost, "/v1/triggers/"+url.PathEscape(name)+"/redrive", req, &out)
	return out.Redriven, err
}

// maxPublish bounds the data of POST /v1/publish: events' default body cap.
const maxPublish = 1 << 20

type publishAnswer struct {
	ID string `json:"id"`
}

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

// DefaultPublishType is the CloudEvents type of POST /v1/publish without one.
const DefaultPublishType = "edged.manual"

// Publish publishes data as a CloudEvent of type typ (DefaultPublishType when
// empty) on subject (POST /v1/publish) and returns its id.
func (c *Client) Publish(ctx context.Context, subject, typ string, data []byte) (string, error) {
	q := url.Values{"subject": {subject}}
	if typ != "" {
		q.Set("type", typ)
	}
	var out publishAnswer
	err := c.do(ctx, http.MethodPost, "/v1/publish?"+q.Encode(), rawBody(data), &out)
	return out.ID, err
}

// Trigger is a running trigger's state as the admin API shows it
// (events.Info).
type Trigger struct {
	Name        string `json:"name"`
	Subject     string `json:"subject,omitempty"`
	Schedule    string `json:"schedule,omitempty"`
	DeadLetter  string `json:"dead_letter"`
	Stream      string `json:"stream"`
	Consumer    string `json:"consumer"`
	Pending     uint64 `json:"pending"`
	InFlight    int    `json:"in_flight"`
	Redelivered int    `json:"redelivered"`
	Delivered   uint64 `json:"delivered"`
	DeadLetters uint64 `json:"dead_letters"`
}

type triggerPage struct {
	Triggers []Trigger `json:"triggers"`
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
			Name: in.Trigger, Subject: in.Subject, Schedule: in.Schedule, DeadLetter: in.DeadLetter,
			Stream: in.Stream, Consumer: in.Consumer, Pending: in.Pending, InFlight: in.InFlight,
			Redelivered: in.Redelivered, Delivered: in.Delivered, DeadLetters: in.DeadLetters,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// Triggers returns the state of every running trigger (GET /v1/triggers).
func (c *Client) Triggers(ctx context.Context) ([]Trigger, error) {
	var out triggerPage
	err := c.do(ctx, http.MethodGet, "/v1/triggers", nil, &out)
	return out.Triggers, err
}
