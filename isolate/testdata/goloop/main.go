//go:build wasip1

// Command goloop is a misbehaving Go guest: it reads the request (method, URI,
// headers and the whole body, so the host calls have all happened) and then
// spins forever without calling the host again.
//
// Expected: the host's deadline interrupts it (the deadline error, 504 to the
// client) while the Go runtime is running guest code, and the instance is not
// reused.
//
// Build (or run examples/build-guests.sh):
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -ldflags=-buildid= -o goloop.wasm .
package main

import (
	"io"
	"net/http"

	"github.com/edged/edged/isolate/guest"
)

func main() {}

func init() {
	guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		// The write is unreachable in practice (2^64 iterations) but keeps
		// the compiler from proving the loop empty.
		for i := uint64(1); ; i++ {
			if i == 0 {
				w.Write(nil)
			}
		}
	})
}
