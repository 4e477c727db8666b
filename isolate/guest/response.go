//go:build wasip1

package guest

import (
	"io"
	"net/http"

	"github.com/edged/edged/isolate/guest/internal/abi"
)

// Response is the upstream's response as a ResponseHook sees it. Reads go to
// the host when called; changes are sent to the host immediately, except
// that headers changed through Header are sent when the hook returns. The zero
// value is not usable; the SDK passes one to the hook, valid until it returns.
type Response struct {
	isError bool
	header  http.Header // nil until Header is called
	before  http.Header
	body    *responseBody
}

// IsError reports whether the host failed to produce the upstream's response
// (connection refused, timeout...). Status and headers are then the host's
// error response.
func (r *Response) IsError() bool { return r.isError }

// StatusCode returns the upstream's status code.
func (r *Response) StatusCode() int { return int(hostGetStatusCode()) }

// SetStatusCode replaces the status code sent to the client.
func (r *Response) SetStatusCode(code int) { hostSetStatusCode(uint32(code)) }

// Header returns the response headers, read from the host on the first call.
// Changes to the returned map are sent to the host when the hook returns.
func (r *Response) Header() http.Header {
	if r.header == nil {
		r.header = readHeaders(abi.HeaderKindResponse)
		r.before = r.header.Clone()
	}
	return r.header
}

// Body returns a reader of the upstream's response body. Reading consumes
// the body the client would get, so a hook that reads it should also call
// WriteBody.
func (r *Response) Body() io.Reader {
	if r.body == nil {
		r.body = &responseBody{}
	}
	return r.body
}

// WriteBody replaces the response body with p on the first call and appends
// to it on the next ones.
func (r *Response) WriteBody(p []byte) {
	hostWriteBody(abi.BodyKindResponse, ptr(p), uint32(len(p)))
}

func (r *Response) flush() {
	if r.header == nil {
		return
	}
	abi.DiffHeader(r.before, r.header, func(op abi.HeaderOp) {
		pushHeader(abi.HeaderKindResponse, op)
	})
}

type responseBody struct{ eof bool }

func (b *responseBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	eof, n := abi.SplitEOFLen(hostReadBody(abi.BodyKindResponse, ptr(p), uint32(len(p))))
	if eof {
		b.eof = true
		if n == 0 {
			return 0, io.EOF
		}
	}
	return int(n), nil
}
