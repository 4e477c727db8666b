// Package isolate runs WebAssembly guests as HTTP handlers, each invocation
// under strict limits, on wazero's compiler engine.
//
// A guest is a wasip1 module that speaks the http-wasm handler ABI (module
// http_handler) and may import edged's extension (module edged: fetch under an
// egress policy, granted secrets, structured logs) and WASI preview 1 with
// nothing granted; docs/abi.md is the reference. A guest either answers the
// request itself or returns "next", and then sees the answer of whatever the
// caller continues to (an upstream, another handler) in handle_response, so it
// can be a whole endpoint or middleware.
//
// # Use
//
// A Runtime holds what functions share: the compiler, the compilation cache
// (RuntimeOptions.CacheDir, so a restart skips compiling), the host modules and
// the bound on guest code running at once (RuntimeOptions.MaxConcurrent, one
// execution slot per core by default). Runtime.Load reads a module from a file,
// an https URL pinned by its SHA-256, or bytes (Source), verifies and
// instruments it, and returns a Function with its pool of instances.
//
// A Function is an http.Handler (ServeHTTP for a whole endpoint, Handler to put
// the guest in front of another handler). For the lowest overhead, Function.Handle
// takes pooled Request and Response values and a Next, and allocates nothing per
// warm invocation; StatusOf maps its errors to HTTP statuses. Function.Stats and
// Function.Usage report counters and cumulative resource use (the input of a
// cost report); FunctionOptions.OnInvoke and an InvocationTrace attached with
// WithInvocationTrace observe single invocations, for metrics and tracing,
// without this package knowing any trace format.
//
// # Limits
//
// Every invocation runs under its function's limits.Policy: a wall-clock
// deadline, a linear-memory cap, caps on the request and response bodies and on
// log output, and an egress policy that denies every fetch unless an allow-list
// permits it. A breach is a typed error matched with errors.Is (ErrDeadline,
// ErrMemoryLimit, ErrTrap, ErrBodyTooLarge, ErrPoolExhausted, ...), wrapped in
// an *InvokeError naming the function and phase. An instance that failed is
// discarded, never reused.
//
// Deadlines are enforced without a watcher goroutine: at load, each module is
// rewritten so that function entries and loop headers spend fuel, and a guest
// out of fuel yields to the host about every 100µs of guest code, where the
// deadline is checked and the goroutine can be preempted (deadline.go,
// RATIONALE.md "Deadlines").
//
// # Instances
//
// An instance serves one invocation at a time. A function either keeps a pool
// (MinInstances kept warm, at most MaxInstances, surplus idle instances torn
// down after IdleTimeout) or runs every request in a fresh instance
// (FunctionOptions.Fresh, the strongest isolation). A request waits at most
// MaxWait for an instance and then an execution slot, together, before
// ErrPoolExhausted. Slots are shared fairly between functions: a freed slot goes
// to the waiting function that holds the fewest, and a running guest gives its
// slot up at a fuel check to a function that is starved (fair.go).
//
// Start-up code (_initialize, or a WASI command's _start) runs once at load,
// and new instances start from a snapshot of the memory and globals it left, so
// a fresh instance of a Go guest skips the Go runtime's start-up
// (FunctionOptions.DisableSnapshot turns this off; snapshot.go says what is
// shared). On Linux, guest memory is an anonymous mapping reserved at the cap,
// and a snapshot is mapped copy-on-write.
//
// The Go SDK for guests is the subpackage isolate/guest.
package isolate
