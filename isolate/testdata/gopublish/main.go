//go:build wasip1

// Command gopublish is the Go SDK's publish test guest: it publishes the
// request body with guest.Publish on the subject of the x-subject header,
// with the CloudEvents type of x-type, x-repeat times (default once), and
// answers 200 with "ok", or with the first error's Kind and the sentinel
// errors.Is matches ("denied ErrPublishDenied").
//
// Build (or run examples/build-guests.sh):
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -ldflags=-buildid= -o gopublish.wasm .
package main

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/edged/edged/isolate/guest"
)

func main() {}

var sentinels = []struct {
	name string
	err  error
}{
	{"ErrPublishDenied", guest.ErrPublishDenied},
	{"ErrPublishBudget", guest.ErrPublishBudget},
	{"ErrPublishTooLarge", guest.ErrPublishTooLarge},
	{"ErrPublishInvalid", guest.ErrPublishInvalid},
	{"ErrPublishUnavailable", guest.ErrPublishUnavailable},
	{"ErrPublishFailed", guest.ErrPublishFailed},
}

func init() {
	guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		n, convErr := strconv.Atoi(r.Header.Get("x-repeat"))
		if convErr != nil {
			n = 1
		}
		for range n {
			if err = guest.Publish(r.Header.Get("x-subject"), r.Header.Get("x-type"), data); err != nil {
				break
			}
		}
		if err == nil {
			io.WriteString(w, "ok")
			return
		}
		var pe *guest.PublishError
		if !errors.As(err, &pe) {
			io.WriteString(w, "not a *PublishError: "+err.Error())
			return
		}
		io.WriteString(w, pe.Kind())
		for _, s := range sentinels {
			if errors.Is(err, s.err) {
				io.WriteString(w, " "+s.name)
			}
		}
	})
}
