//go:build wasip1

package guest

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/edged/edged/isolate/guest/internal/abi"
)

// Errors of the host's fetch, for errors.Is. A *FetchError wraps exactly one
// of them; an http.Client wraps that in a *url.Error.
var (
	// ErrEgressDenied: the destination is not on the function's allow-list,
	// or resolves to a private, loopback or link-local address, also after a
	// redirect.
	ErrEgressDenied = errors.New("edged: egress denied")
	// ErrBudget: the invocation has used all its subrequests.
	ErrBudget = errors.New("edged: subrequest budget exhausted")
	// ErrTimeout: the subrequest timed out.
	ErrTimeout = errors.New("edged: subrequest timeout")
	// ErrTooLarge: the request or response body is over the host's cap.
	ErrTooLarge = errors.New("edged: subrequest body too large")
	// ErrNetwork: connection refused or reset, DNS failure, TLS failure.
	ErrNetwork = errors.New("edged: network error")
	// ErrInvalid: the host rejected the method, URL or headers.
	ErrInvalid = errors.New("edged: invalid subrequest")
	// ErrBadHandle: the response was already closed (a bug in the SDK or a
	// reuse after Close).
	ErrBadHandle = errors.New("edged: bad fetch handle")
	// ErrTooManyHandles: more than 8 responses are open at once; close
	// response bodies.
	ErrTooManyHandles = errors.New("edged: too many open fetch handles")
	// ErrUnknown: an error code this SDK does not know (a newer host).
	ErrUnknown = errors.New("edged: unknown fetch error")
)

// FetchError is an error code returned by the host's fetch functions.
type FetchError struct {
	Code int32 // negative edged error code, see docs/abi.md
}

// Error returns the message of the sentinel error for Code.
func (e *FetchError) Error() string { return e.Unwrap().Error() }

// Kind returns the code's stable snake_case name, e.g. "egress_denied", for
// logs and error bodies.
func (e *FetchError) Kind() string { return abi.CodeKind(e.Code) }

// Unwrap returns the sentinel error for Code (ErrUnknown for codes this SDK
// does not know).
func (e *FetchError) Unwrap() error {
	switch e.Code {
	case abi.CodeEgressDenied:
		return ErrEgressDenied
	case abi.CodeBudget:
		return ErrBudget
	case abi.CodeTimeout:
		return ErrTimeout
	case abi.CodeTooLarge:
		return ErrTooLarge
	case abi.CodeNetwork:
		return ErrNetwork
	case abi.CodeInvalid:
		return ErrInvalid
	case abi.CodeBadHandle:
		return ErrBadHandle
	case abi.CodeTooManyHandles:
		return ErrTooManyHandles
	}
	return ErrUnknown
}

// Transport is an http.RoundTripper that sends requests through the host's
// fetch (edged.fetch), under the function's egress policy and subrequest
// budget. The zero value is ready to use:
//
//	c := http.Client{Transport: guest.Transport{}}
//
// The host follows redirects itself, checking each hop against the egress
// policy, so the client sees the final response. The request body is read
// whole before the call. The response body streams from the host; close it
// to free the handle (at most 8 are open at once; the host closes all of them
// when the invocation ends). The request's context is checked before the
// call only: the host applies its own subrequest timeout. Errors are
// *FetchError values.
type Transport struct{}

var _ http.RoundTripper = Transport{}

// RoundTrip implements http.RoundTripper.
func (Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if req.URL == nil {
		return nil, &FetchError{Code: abi.CodeInvalid}
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	var hdr []byte
	if req.Host != "" && req.Host != req.URL.Host {
		hdr = abi.AppendPair(hdr, "Host", req.Host)
	}
	for name, vs := range req.Header {
		for _, v := range vs {
			if !abi.ValidString(name) || !abi.ValidString(v) {
				return nil, &FetchError{Code: abi.CodeInvalid}
			}
			hdr = abi.AppendPair(hdr, name, v)
		}
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		body = b
	}
	h := hostFetch(method, req.URL.String(), ptr(hdr), uint32(len(hdr)), ptr(body), uint32(len(body)))
	if h < 0 {
		return nil, &FetchError{Code: h}
	}
	status := hostFetchStatus(h)
	if status < 0 {
		hostFetchClose(h)
		return nil, &FetchError{Code: status}
	}
	header, err := fetchHeaders(h)
	if err != nil {
		hostFetchClose(h)
		return nil, err
	}
	cl := int64(-1)
	if v := header.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			cl = n
		}
	}
	return &http.Response{
		Status:        strconv.Itoa(int(status)) + " " + http.StatusText(int(status)),
		StatusCode:    int(status),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          &fetchBody{handle: h},
		ContentLength: cl,
		Request:       req,
	}, nil
}

func fetchHeaders(h int32) (http.Header, error) {
	b := rt.scratch
	n := hostFetchHeaders(h, ptr(b), uint32(len(b)))
	if n < 0 {
		return nil, &FetchError{Code: n}
	}
	if int(n) > len(b) {
		b = make([]byte, n)
		n = hostFetchHeaders(h, ptr(b), uint32(len(b)))
		if n < 0 {
			return nil, &FetchError{Code: n}
		}
		if int(n) > len(b) {
			return nil, &FetchError{Code: abi.CodeInvalid}
		}
	}
	header := make(http.Header)
	if err := abi.ParsePairs(b[:n], func(name, value []byte) {
		key := http.CanonicalHeaderKey(string(name))
		header[key] = append(header[key], string(value))
	}); err != nil {
		return nil, &FetchError{Code: abi.CodeInvalid}
	}
	return header, nil
}

// fetchBody streams a fetch response body from the host.
type fetchBody struct {
	handle int32
	eof    bool
	closed bool
}

func (b *fetchBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, &FetchError{Code: abi.CodeBadHandle}
	}
	if b.eof {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	v := hostFetchRead(b.handle, ptr(p), uint32(len(p)))
	if code, isErr := abi.FetchReadError(v); isErr {
		return 0, &FetchError{Code: code}
	}
	eof, n := abi.SplitEOFLen(uint64(v))
	if eof {
		b.eof = true
		if n == 0 {
			return 0, io.EOF
		}
	}
	return int(n), nil
}

// Close frees the host handle; it is safe to call twice.
func (b *fetchBody) Close() error {
	if !b.closed {
		b.closed = true
		hostFetchClose(b.handle)
	}
	return nil
}

// Publish lives here, after fetch's transport, rather than in a file of its
// own: a Go guest's bytes record the files and lines of the functions it
// links, and new code appended to an existing file leaves the committed
// guests that do not publish byte-identical.

// Errors of Publish, for errors.Is. A *PublishError wraps exactly one of them.
var (
	// ErrPublishDenied: the subject is not in the function's publish list.
	ErrPublishDenied = errors.New("edged: publish denied")
	// ErrPublishBudget: the invocation has used all its publishes or bytes.
	ErrPublishBudget = errors.New("edged: publish budget exhausted")
	// ErrPublishTooLarge: the data alone is over the publish byte budget.
	ErrPublishTooLarge = errors.New("edged: publish data too large")
	// ErrPublishInvalid: the subject (wildcards, empty token, '$', over 256
	// bytes) or the type (empty, over 256 bytes, not printable ASCII) is
	// malformed.
	ErrPublishInvalid = errors.New("edged: invalid subject or event type")
	// ErrPublishUnavailable: events are not configured on this host, or
	// Publish was called outside a request (from init).
	ErrPublishUnavailable = errors.New("edged: events unavailable")
	// ErrPublishFailed: the host could not store the event (no trigger's
	// stream captures the subject, the store is full, the deadline passed);
	// it was not published.
	ErrPublishFailed = errors.New("edged: publish failed")
	// ErrPublishUnknown: an error code this SDK does not know (a newer host).
	ErrPublishUnknown = errors.New("edged: unknown publish error")
)

// PublishError is an error code returned by the host's publish.
type PublishError struct {
	Code int32 // negative edged error code, see docs/abi.md
}

// Error returns the message of the sentinel error for Code.
func (e *PublishError) Error() string { return e.Unwrap().Error() }

// Kind returns the code's stable snake_case name, e.g. "denied", for logs
// and error bodies.
func (e *PublishError) Kind() string { return abi.PublishCodeKind(e.Code) }

// Unwrap returns the sentinel error for Code (ErrPublishUnknown for codes
// this SDK does not know).
func (e *PublishError) Unwrap() error {
	switch e.Code {
	case abi.CodeEgressDenied:
		return ErrPublishDenied
	case abi.CodeBudget:
		return ErrPublishBudget
	case abi.CodeTooLarge:
		return ErrPublishTooLarge
	case abi.CodeInvalid:
		return ErrPublishInvalid
	case abi.CodeUnavailable:
		return ErrPublishUnavailable
	case abi.CodePublishFailed:
		return ErrPublishFailed
	}
	return ErrPublishUnknown
}

// Publish publishes data as a CloudEvent of type ceType (e.g.
// "com.example.order.created") on the NATS subject, through the host's
// edged.publish: the way a function fans work out to triggers. It returns
// nil once the host has stored the event. The subject must match one of the
// function's `publish = [...]` patterns, and each invocation has a budget of
// publishes and bytes (docs/abi.md); errors are *PublishError values.
//
// Publish needs a version 2 host: a guest that calls it does not load on an
// older one.
func Publish(subject, ceType string, data []byte) error {
	if code := hostPublish(subject, ceType, ptr(data), uint32(len(data))); code < 0 {
		return &PublishError{Code: code}
	}
	return nil
}
