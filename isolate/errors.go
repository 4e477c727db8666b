package isolate

import (
	"errors"
	"fmt"

	"github.com/edged/edged/limits"
)

// Errors returned by Function.Handle and Runtime.Load. Callers branch on them
// with errors.Is; the router maps them to status codes in one place.
var (
	// ErrDeadline means the guest ran past its wall-clock limit and was
	// interrupted. Clients should see 504.
	ErrDeadline = errors.New("isolate: deadline exceeded")
	// ErrCanceled means the caller's context was cancelled while the guest
	// ran, and the guest was interrupted.
	ErrCanceled = errors.New("isolate: canceled by the caller")
	// ErrMemoryLimit means the guest failed after its memory reached the cap.
	ErrMemoryLimit = errors.New("isolate: memory limit reached")
	// ErrTrap means the guest trapped (unreachable, out-of-bounds access,
	// stack overflow, ...) or exited.
	ErrTrap = errors.New("isolate: guest trapped")
	// ErrBodyTooLarge means a request or response body passed its cap. It is
	// limits.ErrBodyTooLarge, so either name matches.
	ErrBodyTooLarge = limits.ErrBodyTooLarge
	// ErrEgressDenied is limits.ErrEgressDenied: a guest's fetch was refused
	// by the egress policy. Guests see it as an error code; Stats count it.
	ErrEgressDenied = limits.ErrEgressDenied
	// ErrSubrequestBudget is limits.ErrSubrequestBudget: a guest asked for
	// more subrequests than its policy allows in one invocation.
	ErrSubrequestBudget = limits.ErrSubrequestBudget
	// ErrPoolExhausted means every instance was busy, or no execution slot
	// came free, within the function's MaxWait, or the wait queue was full.
	// Clients should see 503.
	ErrPoolExhausted = errors.New("isolate: instance pool exhausted")
	// ErrNoNext means the guest returned "next" but the caller gave Handle no
	// next handler to continue to.
	ErrNoNext = errors.New("isolate: guest returned next but there is no next handler")
	// ErrClosed means the Function or Runtime was closed.
	ErrClosed = errors.New("isolate: closed")
	// ErrBadModule means a module failed to load: unreadable, not wasm, a
	// sha256 mismatch, or missing the http-wasm exports.
	ErrBadModule = errors.New("isolate: bad module")
)

// phaseReadRequest is the InvokeError phase of a request refused before any
// guest code ran (its body is over the cap): the client's fault, not the guest's.
const phaseReadRequest = "read_request"

// InvokeError describes a failed invocation: which function, in which phase
// ("read_request", "acquire", "instantiate", "handle_request",
// "handle_response") and why. Unwrap yields
// one of the sentinel errors above and, where there is one, the cause.
type InvokeError struct {
	Function string
	Phase    string
	Kind     error // one of the Err* sentinels
	Cause    error // the underlying error, may be nil
}

// Error implements error.
func (e *InvokeError) Error() string {
	if e.Cause == nil {
		return fmt.Sprintf("function %q: %s: %v", e.Function, e.Phase, e.Kind)
	}
	return fmt.Sprintf("function %q: %s: %v: %v", e.Function, e.Phase, e.Kind, e.Cause)
}

// Unwrap returns the kind and the cause, so errors.Is matches both.
func (e *InvokeError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}
