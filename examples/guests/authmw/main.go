//go:build wasip1

// Command authmw is middleware in front of the monolith: it requires
// "Authorization: Bearer <token>" where the token equals the secret
// "api_token" granted to the function. On success it removes the
// Authorization header, sets "X-User: demo" and lets the request continue to
// the upstream; otherwise it answers 401 with a JSON error. Its response hook
// marks responses it let through with "X-Auth: edged".
//
// Build (or run examples/build-guests.sh):
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -ldflags=-buildid= -o authmw.wasm .
package main

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/edged/edged/isolate/guest"
)

func main() {}

var unauthorized = []byte(`{"error":"unauthorized"}` + "\n")

func init() {
	guest.Middleware(authenticate, func(res *guest.Response) {
		res.Header().Set("X-Auth", "edged")
	})
}

func authenticate(w http.ResponseWriter, r *http.Request) guest.Action {
	want, ok := guest.Secret("api_token")
	got, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || want == "" || !hasBearer || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("WWW-Authenticate", `Bearer realm="edged"`)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write(unauthorized)
		return guest.Done
	}
	r.Header.Del("Authorization")
	r.Header.Set("X-User", "demo")
	return guest.Next
}
