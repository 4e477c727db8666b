package admin

import (
	"context"
	"fmt"
	"net/http"
)

// Recorder starts and stops recording a route's traffic into a corpus
// (docs/record-replay.md); the daemon implements it.
type Recorder interface {
	// StartRecording starts recording the route named route, with its
	// [routes.record] settings or the defaults, and returns the recording's
	// state. Starting a route that records already changes nothing.
	StartRecording(ctx context.Context, route string) (RecordingState, error)
	// StopRecording stops it, writes what is queued, and returns the final
	// state. Stopping a route that does not record changes nothing.
	StopRecording(ctx context.Context, route string) (RecordingState, error)
}

// RecordingState is the answer of POST /v1/routes/{name}/record/{start|stop}.
type RecordingState struct {
	Route     string `json:"route"`
	Recording bool   `json:"recording"`
	// Path is the corpus file on the daemon's host, and Rotated its older
	// half ("" when none was written).
	Path    string `json:"path"`
	Rotated string `json:"rotated,omitempty"`
	// Records, Dropped and Bytes count what the recording wrote and lost
	// since it started.
	Records uint64 `json:"records"`
	Dropped uint64 `json:"dropped"`
	Bytes   uint64 `json:"bytes"`
}

// record serves POST /v1/routes/{name}/record/{start|stop}.
func (a *API) record(w http.ResponseWriter, r *http.Request) {
	name, op := r.PathValue("name"), r.PathValue("op")
	if a.c.Recorder == nil {
		writeJSONError(w, http.StatusNotImplemented, "recording is not available")
		return
	}
	if _, ok := a.c.Table.Route(name); !ok {
		writeJSONError(w, http.StatusNotFound, fmt.Sprintf("no route %q", name))
		return
	}
	var st RecordingState
	var err error
	switch op {
	case "start":
		st, err = a.c.Recorder.StartRecording(r.Context(), name)
	case "stop":
		st, err = a.c.Recorder.StopRecording(r.Context(), name)
	default:
		writeJSONError(w, http.StatusNotFound, fmt.Sprintf("unknown record action %q (start or stop)", op))
		return
	}
	if err != nil {
		a.log.Error("record "+op, "route", name, "err", err)
		writeJSONError(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.log.Info("record "+op, "route", name, "path", st.Path, "records", st.Records)
	writeJSON(w, http.StatusOK, st)
}
