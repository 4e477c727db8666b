//go:build wasip1

// Command jsonapi is the isolate version of the example monolith's users API
// (examples/monolith): GET /api/users lists the users as
// {"generated_at":...,"request_id":...,"users":[...]}, GET /api/users/{id}
// returns one user object, or 404 {"error":"user not found"}. The JSON, key
// order included, and the data are the monolith's, so that a shadow
// comparison between the two matches; generated_at (RFC 3339, UTC) and
// request_id (16 random hex digits) are the volatile fields to ignore.
//
// Build (or run examples/build-guests.sh):
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -ldflags=-buildid= -o jsonapi.wasm .
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/edged/edged/isolate/guest"
)

func main() {}

type user struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

var users = []user{
	{ID: 1, Name: "Ada Lovelace", Email: "ada@example.com"},
	{ID: 2, Name: "Grace Hopper", Email: "grace@example.com"},
	{ID: 3, Name: "Alan Turing", Email: "alan@example.com"},
}

// usersResponse has its fields in the order the monolith's map encodes them.
type usersResponse struct {
	GeneratedAt string `json:"generated_at"`
	RequestID   string `json:"request_id"`
	Users       []user `json:"users"`
}

type errorResponse struct {
	Error string `json:"error"`
}

var notFound = errorResponse{Error: "user not found"}

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/users", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, usersResponse{GeneratedAt: now(), RequestID: requestID(), Users: users})
	})
	mux.HandleFunc("GET /api/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err == nil {
			for _, u := range users {
				if u.ID == id {
					writeJSON(w, http.StatusOK, u)
					return
				}
			}
		}
		writeJSON(w, http.StatusNotFound, notFound)
	})
	guest.Handle(mux)
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// requestID is 8 random bytes in hex, as the monolith makes it (WASI's
// random_get feeds crypto/rand).
func requestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
