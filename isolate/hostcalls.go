package isolate

import (
	"context"
	"net/http"
)

// HostCalls intercepts the host calls of one invocation that reach outside the
// guest, fetch and secret_get, so that they can be recorded (the router's
// corpus recording) or answered from a recording (replay). Attach it to the
// context passed to Handle with WithHostCalls; every hook is optional and runs
// on the goroutine that called Handle. An invocation without HostCalls pays
// nothing; one with them pays a context lookup per fetch or secret_get.
type HostCalls struct {
	// Fetch, when set, sends a guest's subrequest in place of the function's
	// egress client. next is that client: the egress policy, the
	// subrequest budget, the timeout and the body cap. A recorder calls next
	// and reads the answer; a replayer answers without it, and then owns the
	// policy checks (limits.Egress.Allowed, limits.ErrSubrequestBudget) itself.
	// Errors are mapped to the guest's codes as next's are (errors.Is with
	// limits.ErrEgressDenied, context.DeadlineExceeded, ...).
	Fetch func(ctx context.Context, req *http.Request, next FetchFunc) (*http.Response, error)
	// Secret, when set, is called with the name of every secret the guest
	// asks for and whether the function is granted it. The value is not
	// passed: a recording keeps secrets by name only.
	Secret func(name string, granted bool)
}

// FetchFunc sends one subrequest: the function's egress client, as given to
// HostCalls.Fetch.
type FetchFunc func(ctx context.Context, req *http.Request) (*http.Response, error)

type hostCallsKey struct{}

// WithHostCalls returns a context carrying h for Handle.
func WithHostCalls(ctx context.Context, h *HostCalls) context.Context {
	return context.WithValue(ctx, hostCallsKey{}, h)
}

// hostCalls returns the HostCalls of inst's invocation, or nil.
func (inst *instance) hostCalls() *HostCalls {
	ctx := inst.callCtx
	if ctx == nil || ctx == context.Background() {
		return nil
	}
	h, _ := ctx.Value(hostCallsKey{}).(*HostCalls)
	return h
}
