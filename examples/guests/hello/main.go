//go:build wasip1

// Command hello is the smallest edged function in Go: it answers every request
// with 200 and "Hello from the isolate\n".
//
// Build (or run examples/build-guests.sh, which rebuilds every guest):
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -ldflags=-buildid= -o hello.wasm .
package main

import (
	"net/http"

	"github.com/edged/edged/isolate/guest"
)

func main() {} // required by the toolchain; a reactor's main is never called

var body = []byte("Hello from the isolate\n")

func init() {
	guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(body)
	})
}
