//go:build noevents

package admin

import "net/http"

// EventsEngine is what the event endpoints read and act on. This binary was
// built with -tags noevents: there is no engine, Config.Events is always
// nil, and the endpoints answer 501.
type EventsEngine interface {
	// noEvents keeps other types from implementing it.
	noEvents()
}

// notBuilt answers the event endpoints of a binary built without events.
func notBuilt(w http.ResponseWriter, _ *http.Request) {
	writeJSONError(w, http.StatusNotImplemented, "events are not in this build of edged (built with -tags noevents)")
}

func (a *API) eventStatus(w http.ResponseWriter, r *http.Request) { notBuilt(w, r) }
func (a *API) deadLetters(w http.ResponseWriter, r *http.Request) { notBuilt(w, r) }
func (a *API) redrive(w http.ResponseWriter, r *http.Request)     { notBuilt(w, r) }
func (a *API) publish(w http.ResponseWriter, r *http.Request)     { notBuilt(w, r) }
func (a *API) triggers(w http.ResponseWriter, r *http.Request)    { notBuilt(w, r) }
