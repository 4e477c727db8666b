//go:build wasip1

package guest

import (
	"net/http"
	"net/url"

	"github.com/edged/edged/isolate/guest/internal/abi"
)

// Action is what a middleware function tells the host to do after it returns.
type Action int

const (
	// Done means the function wrote the response (or accepts the default empty
	// 200): the upstream is not called and no response hook runs.
	Done Action = iota
	// Next means the request, with the function's changes, continues to the
	// route's upstream; the response hook, if any, then runs on the upstream's
	// response. Anything written to the ResponseWriter is discarded.
	Next
)

// MiddlewareFunc is a middleware function: it may change r (method, URL,
// Host, Header, Body) and return Next, or write a response to w and return
// Done.
type MiddlewareFunc func(w http.ResponseWriter, r *http.Request) Action

// ResponseHook runs in handle_response on the upstream's response after a
// MiddlewareFunc returned Next. res is valid until the hook returns.
type ResponseHook func(res *Response)

// state is the per-instance state of the SDK; see the package documentation
// for why it lives in a package variable.
type state struct {
	handler http.Handler
	fn      http.HandlerFunc // handler, when it is one: saves a call
	mw      MiddlewareFunc
	hook    ResponseHook

	scratch []byte // reused for every host read that fits
	names   []byte // reused for header names, read while values use scratch

	// Caches of the request path (request.go): a request often repeats the
	// previous one's URI and client address, and always the same few header
	// names. They hold only immutable values.
	canon    map[string]string // raw header name -> canonical, at most canonCap
	uri      string            // the previous request's URI
	addr     string            // the previous request's client address
	url      url.URL           // uri parsed, valid when urlValid
	urlValid bool

	w       responseWriter
	res     Response
	nextCtx uint32 // request context handed to handle_response
	logBuf  []byte // reused by Log and the slog handler
}

var rt = state{scratch: make([]byte, 4096), names: make([]byte, 2048)}

// The entry points are called by the host, not by Go code; this tells tools
// that do not know //go:wasmexport (staticcheck's unused check) they are used.
var _, _ = handleRequest, handleResponse

// Handle registers h as the function's whole endpoint. Call it once, from an
// init function; a second registration (of any kind) panics, which fails the
// instance's initialization so the mistake shows at deploy time.
func Handle(h http.Handler) {
	if h == nil {
		panic("guest: Handle(nil)")
	}
	register()
	rt.handler = h
	rt.fn, _ = h.(http.HandlerFunc)
}

// HandleFunc registers f as the function's whole endpoint, like Handle.
func HandleFunc(f func(w http.ResponseWriter, r *http.Request)) {
	if f == nil {
		panic("guest: HandleFunc(nil)")
	}
	Handle(http.HandlerFunc(f))
}

// Middleware registers f as middleware in front of the route's upstream, and
// hook, which may be nil, to run on the upstream's response. When hook is not
// nil the SDK enables the host's response buffering (FeatureBufferResponse)
// on each request that returns Next, so the hook can change the status and
// headers before they are sent. Call it once, from an init function; a second
// registration panics.
func Middleware(f MiddlewareFunc, hook ResponseHook) {
	if f == nil {
		panic("guest: Middleware(nil, ...)")
	}
	register()
	rt.mw = f
	rt.hook = hook
}

func register() {
	if rt.handler != nil || rt.mw != nil {
		panic("guest: a handler is already registered")
	}
}

// handleRequest is the http-wasm entry point. Without a registered handler the
// function is a pass-through: it returns next, as the ABI recommends.
//
//go:wasmexport handle_request
func handleRequest() uint64 {
	switch {
	case rt.handler != nil:
		r := newRequest(false)
		w := rt.w.reset()
		if rt.fn != nil {
			rt.fn(w, r)
		} else {
			rt.handler.ServeHTTP(w, r)
		}
		w.finish()
		return abi.CtxNext(0, false)
	case rt.mw != nil:
		return runMiddleware()
	}
	return abi.CtxNext(0, true)
}

func runMiddleware() uint64 {
	r := newRequest(true)
	orig := snapshot(r)
	w := rt.w.reset()
	if rt.mw(w, r) == Done {
		w.finish()
		return abi.CtxNext(0, false)
	}
	w.discard()
	pushRequest(orig, r)
	if rt.hook == nil {
		return abi.CtxNext(0, true)
	}
	hostEnableFeatures(uint32(FeatureBufferResponse))
	rt.nextCtx++
	return abi.CtxNext(rt.nextCtx, true)
}

// handleResponse is the http-wasm entry point called after next.
//
//go:wasmexport handle_response
func handleResponse(reqCtx uint32, isError uint32) {
	if rt.hook == nil {
		return
	}
	rt.res = Response{isError: isError != 0}
	rt.hook(&rt.res)
	rt.res.flush()
}
