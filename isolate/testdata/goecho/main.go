//go:build wasip1

// Command goecho is the Go guest of the warm-path benchmark: it answers 200
// with the request body, as hello-c's /fast/echo does in C, so the two
// languages are measured on the same work (1 KiB in, 1 KiB out).
//
// Build (or run examples/build-guests.sh):
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -ldflags=-buildid= -o goecho.wasm .
package main

import (
	"io"
	"net/http"

	"github.com/edged/edged/isolate/guest"
)

func main() {}

var buf = make([]byte, 0, 64<<10)

func init() {
	guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		b := buf[:0]
		for {
			if len(b) == cap(b) {
				b = append(b, 0)[:len(b)]
			}
			n, err := r.Body.Read(b[len(b):cap(b)])
			b = b[:len(b)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	})
}
