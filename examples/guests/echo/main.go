//go:build wasip1

// Command echo answers every request with a JSON description of it: method,
// URI, protocol, client address, headers and body (as a string). Useful to see
// what an isolate receives, and what a middleware in front of it changed.
//
// Build (or run examples/build-guests.sh):
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -ldflags=-buildid= -o echo.wasm .
package main

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/edged/edged/isolate/guest"
)

func main() {}

// maxBody bounds what is echoed; the host has its own cap on request bodies.
const maxBody = 1 << 20

type echo struct {
	Method     string              `json:"method"`
	URI        string              `json:"uri"`
	Proto      string              `json:"proto"`
	RemoteAddr string              `json:"remote_addr"`
	Host       string              `json:"host"`
	Headers    map[string][]string `json:"headers"`
	Body       string              `json:"body"`
}

func init() {
	guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echo{
			Method:     r.Method,
			URI:        r.RequestURI,
			Proto:      r.Proto,
			RemoteAddr: r.RemoteAddr,
			Host:       r.Host,
			Headers:    r.Header,
			Body:       string(body),
		})
	})
}
