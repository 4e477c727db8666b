package limits

import "errors"

// Sentinel errors. Callers branch on them with errors.Is; the errors this
// package returns wrap them with the offending URL, address or limit.
var (
	// ErrEgressDenied: the destination is not in the egress allow-list, or
	// (through ErrPrivateAddress) resolves to a refused address.
	ErrEgressDenied = errors.New("egress denied")

	// ErrPrivateAddress: the destination is, or resolves to, a private,
	// loopback, link-local or otherwise non-public address that the matched
	// pattern does not name literally. errors.Is(ErrPrivateAddress,
	// ErrEgressDenied) is true.
	ErrPrivateAddress error = &chainedError{
		msg:  "egress to a private, loopback or link-local address denied",
		next: ErrEgressDenied,
	}

	// ErrSubrequestBudget: the invocation used up its subrequests
	// (Egress.MaxSubrequests); redirects count as subrequests.
	ErrSubrequestBudget = errors.New("subrequest budget exhausted")

	// ErrBodyTooLarge: a body is larger than its cap.
	ErrBodyTooLarge = errors.New("body too large")

	// ErrWaitTimeout: a wait for an execution slot (Concurrency) outlasted
	// its bound.
	ErrWaitTimeout = errors.New("wait for an execution slot timed out")
)

// chainedError is a sentinel that is also another sentinel (a more specific
// kind of it) without repeating the other's message.
type chainedError struct {
	msg  string
	next error
}

func (e *chainedError) Error() string { return e.msg }
func (e *chainedError) Unwrap() error { return e.next }
