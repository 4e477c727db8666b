package abi

// Error codes of the edged host module (version 1), as returned by fetch,
// fetch_status, fetch_headers and fetch_read. They are negative so that every
// success value (a handle, a status, a length) is >= 0.
const (
	CodeEgressDenied   int32 = -1
	CodeBudget         int32 = -2
	CodeTimeout        int32 = -3
	CodeTooLarge       int32 = -4
	CodeNetwork        int32 = -5
	CodeInvalid        int32 = -6
	CodeBadHandle      int32 = -7
	CodeTooManyHandles int32 = -8
)

// MaxHandles is how many fetch handles may be open at once in one invocation.
const MaxHandles = 8

// ABIVersion is the version of the edged host module this package encodes.
const ABIVersion = 2

// CodeKind returns the stable snake_case name of an edged error code, for
// logs and JSON error bodies: "egress_denied", "budget", "timeout",
// "too_large", "network", "invalid", "bad_handle", "too_many_handles", or
// "unknown" for any other value.
func CodeKind(code int32) string {
	switch code {
	case CodeEgressDenied:
		return "egress_denied"
	case CodeBudget:
		return "budget"
	case CodeTimeout:
		return "timeout"
	case CodeTooLarge:
		return "too_large"
	case CodeNetwork:
		return "network"
	case CodeInvalid:
		return "invalid"
	case CodeBadHandle:
		return "bad_handle"
	case CodeTooManyHandles:
		return "too_many_handles"
	}
	return "unknown"
}

// FetchReadError reports whether a fetch_read result is an error code (a
// negative i64) and returns that code.
func FetchReadError(v int64) (code int32, isErr bool) {
	if v < 0 {
		return int32(v), true
	}
	return 0, false
}

// Error codes of publish (version 2) beyond the fetch codes it shares
// (CodeEgressDenied, CodeBudget, CodeTooLarge, CodeInvalid). They are added
// here, after everything else, because a Go guest's bytes record the line of
// every function it links: the committed guests stay byte-identical.
const (
	CodeUnavailable   int32 = -9
	CodePublishFailed int32 = -10
)

// PublishCodeKind returns the stable snake_case name of a publish error code:
// "denied", "budget", "too_large", "invalid", "unavailable",
// "publish_failed", or "unknown" for any other value. CodeKind names the
// codes of fetch.
func PublishCodeKind(code int32) string {
	switch code {
	case CodeEgressDenied:
		return "denied"
	case CodeBudget:
		return "budget"
	case CodeTooLarge:
		return "too_large"
	case CodeInvalid:
		return "invalid"
	case CodeUnavailable:
		return "unavailable"
	case CodePublishFailed:
		return "publish_failed"
	}
	return "unknown"
}
