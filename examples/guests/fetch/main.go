//go:build wasip1

// Command fetch shows outbound HTTP from an isolate: GET /fetch?url=U fetches
// U through guest.Transport (the host's fetch, under the function's egress
// policy) and answers with JSON {"status":..., "body":"<first 256 bytes>"}.
// A fetch the host refuses or that fails answers 502 with
// {"error":"<kind>"}, kind being e.g. "egress_denied" or "timeout", and logs
// a warning through the host with log/slog.
//
// Build (or run examples/build-guests.sh):
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -ldflags=-buildid= -o fetch.wasm .
package main

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/edged/edged/isolate/guest"
)

func main() {}

// preview is how much of the fetched body is returned.
const preview = 256

var (
	// transport sends requests through the host's fetch. An
	// http.Client{Transport: guest.Transport{}} works too, but linking
	// http.Client also links its default TLS transport: the module doubles.
	transport = guest.Transport{}
	// logger writes to the host's log through edged.log_fields.
	logger = slog.New(guest.LogHandler())
)

type result struct {
	URL    string `json:"url"`
	Status int    `json:"status"`
	Body   string `json:"body"`
}

func init() {
	guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fetch" {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
			return
		}
		target := r.URL.Query().Get("url")
		if target == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "missing url"})
			return
		}
		req, err := http.NewRequest(http.MethodGet, target, nil)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid url"})
			return
		}
		resp, err := transport.RoundTrip(req)
		if err != nil {
			logger.Warn("fetch failed", "url", target, "kind", kind(err))
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": kind(err)})
			return
		}
		defer resp.Body.Close()
		head, err := io.ReadAll(io.LimitReader(resp.Body, preview))
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": kind(err)})
			return
		}
		writeJSON(w, http.StatusOK, result{URL: target, Status: resp.StatusCode, Body: string(head)})
	})
}

func kind(err error) string {
	var fe *guest.FetchError
	if errors.As(err, &fe) {
		return fe.Kind()
	}
	return "invalid"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
