// Package guest is the Go SDK for writing edged functions with the standard Go
// toolchain. A function is an ordinary net/http handler compiled to a
// WebAssembly reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o hello.wasm .
//
//	package main
//
//	import (
//		"net/http"
//
//		"github.com/edged/edged/isolate/guest"
//	)
//
//	func main() {} // required by the toolchain, never called
//
//	func init() {
//		guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
//			w.Write([]byte("Hello from the isolate\n"))
//		})
//	}
//
// The package exports the guest's entry points itself (//go:wasmexport works
// in any package since Go 1.24): handle_request and handle_response of the
// http-wasm handler ABI. The host calls the _initialize export that
// -buildmode=c-shared adds once per instance, which runs the init functions
// and so the registration; main is never called.
//
// # Endpoints and middleware
//
// Handle and HandleFunc make the function the whole endpoint: the handler gets
// a real *http.Request (method, URI, protocol, headers, client address, and a
// body read from the host on demand) and an http.ResponseWriter that buffers
// and sends status, headers and body to the host when the handler returns (or
// when the buffered body passes 32 KiB, or on Flush).
//
// Middleware puts the function in front of the upstream: it returns Next to
// let the request continue, after the SDK has pushed the changes the function
// made to the request's method, URI, Host, headers and body to the host, or
// Done when it wrote the response itself. An optional response hook runs in
// handle_response, on the upstream's response, and may read and change its
// status and headers.
//
// # Host services
//
// Transport is an http.RoundTripper over the host's fetch, under the
// function's egress policy; Secret reads a secret granted to the function;
// Config returns the function's configuration; Log and LogHandler write
// structured logs to the host; Publish publishes an event to the subjects
// the function may publish to.
//
// # Concurrency and state
//
// A WebAssembly instance runs one invocation at a time, so the SDK keeps its
// per-instance state (the registered handler and reusable buffers) in package
// variables, set once from init. That is the one exception to edged's "no
// package state" rule: the guest's entry points are package-level exports, so
// there is nowhere else to put it. Values the SDK hands to a handler (the
// request, the writer, the Response of a hook) are valid until the handler
// returns. Handlers must not start goroutines that outlive the invocation.
//
// A handler that panics ends the invocation with a trap: the host discards the
// instance and answers with its own error (or falls back to the upstream).
//
// The package builds only for GOOS=wasip1; its ABI is documented in
// docs/abi.md.
package guest
