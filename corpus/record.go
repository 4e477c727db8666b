package corpus

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/edged/edged/limits"
)

// Version is the Record.Version this package writes and reads.
const Version = 1

// Record is one line of a corpus: a request, legacy's answer, and what the
// route's function saw of the world while it ran on the same request.
type Record struct {
	// Version is the format's version, Version.
	Version int `json:"v"`
	// Route is the route's name; Stage its stage when recorded.
	Route string `json:"route"`
	Stage string `json:"stage,omitempty"`
	// Time is when the request arrived.
	Time time.Time `json:"time"`
	// TraceID is the request's W3C trace id in hex, when traced.
	TraceID string `json:"trace_id,omitempty"`
	// Entry holds the request, as the client sent it, and legacy's answer.
	Entry Entry `json:"entry"`
	// Latency holds what each side took.
	Latency Latency `json:"latency"`
	// Function is the function's answer at record time (shadow stage), for
	// the record's reader; replay compares the new module with legacy, not
	// with this.
	Function *FunctionResult `json:"function,omitempty"`
	// Fetches are the function's subrequests and their answers, in order.
	Fetches []Fetch `json:"fetches,omitempty"`
	// Secrets names the secrets the function asked for. Values are never
	// recorded.
	Secrets []string `json:"secrets,omitempty"`
	// Noise is the route's learnt noise when recorded (shadow.Noise.List):
	// replay leaves those differences out, as the shadow stage does.
	Noise []string `json:"noise,omitempty"`
	// Redacted lists what redaction replaced in the record: "header:NAME" and
	// JSON paths. Replay does not compare those.
	Redacted []string `json:"redacted,omitempty"`
}

// Latency is the time each side took, in milliseconds; 0 when it did not run.
type Latency struct {
	LegacyMS   float64 `json:"legacy_ms"`
	FunctionMS float64 `json:"function_ms,omitempty"`
}

// FunctionResult is the function's answer to the recorded request.
type FunctionResult struct {
	Status int `json:"status"`
	// Mismatch is the shadow comparison's first difference ("status",
	// "header:NAME", "body:$.path"), empty when the answers matched.
	Mismatch string `json:"mismatch,omitempty"`
}

// Fetch is one subrequest of the function: the request and either its
// answer or the error it ended in.
type Fetch struct {
	Request  Request   `json:"request"`
	Response *Response `json:"response,omitempty"`
	// Error is the kind of failure: one of the FetchError* values.
	Error string `json:"error,omitempty"`
}

// Kinds of Fetch.Error, named after the guest's fetch error codes
// (docs/abi.md).
const (
	FetchErrorDenied   = "egress_denied"
	FetchErrorBudget   = "budget_exhausted"
	FetchErrorTimeout  = "timeout"
	FetchErrorTooLarge = "too_large"
	FetchErrorNetwork  = "network"
)

// FetchErrorKind returns the Fetch.Error of a subrequest error.
func FetchErrorKind(err error) string {
	switch {
	case errors.Is(err, limits.ErrEgressDenied):
		return FetchErrorDenied
	case errors.Is(err, limits.ErrSubrequestBudget):
		return FetchErrorBudget
	case errors.Is(err, limits.ErrBodyTooLarge):
		return FetchErrorTooLarge
	case errors.Is(err, context.DeadlineExceeded):
		return FetchErrorTimeout
	}
	return FetchErrorNetwork
}

// FetchErr returns an error that the isolate maps to the guest code of kind,
// the inverse of FetchErrorKind.
func FetchErr(kind string) error {
	switch kind {
	case FetchErrorDenied:
		return fmt.Errorf("recorded: %w", limits.ErrEgressDenied)
	case FetchErrorBudget:
		return fmt.Errorf("recorded: %w", limits.ErrSubrequestBudget)
	case FetchErrorTooLarge:
		return fmt.Errorf("recorded: %w", limits.ErrBodyTooLarge)
	case FetchErrorTimeout:
		return fmt.Errorf("recorded: %w", context.DeadlineExceeded)
	}
	return fmt.Errorf("recorded fetch failure %q", kind)
}

// Validate reports what makes r unusable for replay.
func (r *Record) Validate() error {
	var errs []error
	if r.Version != Version {
		errs = append(errs, fmt.Errorf("v: %d, want %d", r.Version, Version))
	}
	if err := validRequest(&r.Entry.Request); err != nil {
		errs = append(errs, fmt.Errorf("entry.request: %w", err))
	}
	if s := r.Entry.Response.Status; s < 100 || s > 999 {
		errs = append(errs, fmt.Errorf("entry.response.status: %d is not an HTTP status", s))
	}
	if _, err := r.Entry.Response.Body(); err != nil {
		errs = append(errs, fmt.Errorf("entry.response.content: %w", err))
	}
	for i := range r.Fetches {
		f := &r.Fetches[i]
		if err := validRequest(&f.Request); err != nil {
			errs = append(errs, fmt.Errorf("fetches[%d].request: %w", i, err))
		}
		if (f.Response == nil) == (f.Error == "") {
			errs = append(errs, fmt.Errorf("fetches[%d]: want a response or an error", i))
		}
		if f.Response != nil {
			if _, err := f.Response.Body(); err != nil {
				errs = append(errs, fmt.Errorf("fetches[%d].response.content: %w", i, err))
			}
		}
	}
	return errors.Join(errs...)
}

func validRequest(r *Request) error {
	if r.Method == "" {
		return errors.New("method: empty")
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("url: %q is not absolute", r.URL)
	}
	if _, err := r.Body(); err != nil {
		return fmt.Errorf("postData: %w", err)
	}
	return nil
}
