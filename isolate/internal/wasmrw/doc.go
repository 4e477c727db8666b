// Package wasmrw rewrites WebAssembly binaries before edged compiles them, so
// that untrusted guests can be interrupted cheaply and are held to their
// memory limits.
//
// # Why fuel
//
// edged must stop a runaway guest at its deadline. A guest compiled to
// native code by wazero's compiler engine runs without ever returning to the
// Go scheduler: a tight wasm loop is a tight machine-code loop with no
// preemption point. The Go runtime cannot preempt it asynchronously either,
// so a single spinning guest stalls every stop-the-world phase of the
// garbage collector, and with it every goroutine of the daemon.
//
// wazero's answer, WithCloseOnContextDone, makes every loop back-edge and
// function entry check a flag and exit to Go, and starts a watcher goroutine
// per call. Both cost far more than edged's warm-path budget of a few
// microseconds per invocation (tens of microseconds measured per call).
//
// Rewrite instead instruments the module once, at load time: a mutable i32
// "fuel" global is decremented at every function entry and every loop
// header, and when it reaches zero the guest calls an imported host function.
// That function (written in Go, in package isolate) checks the wall-clock
// deadline, aborts the guest if it has passed, and otherwise returns a fresh
// budget. Every call into Go is a point where the scheduler and the collector
// can take over the goroutine, so no guest runs longer than one budget
// without giving Go a chance. A loop iteration costs a handful of
// instructions (a load, a subtract, a store, a compare and a branch not
// taken); the exit to Go happens once every InitialFuel sites. Checking
// function entries as well as loops covers recursion, the only other way to
// run unboundedly without a loop.
//
// Other index-shifting effects of adding an import (every call, ref.func,
// element segment, export, start function and the "name" section) are
// rewritten consistently, so the instrumented module behaves as the original
// did apart from the calls to the yield import.
//
// # Other rewrites
//
// MaxMemoryPages caps the declared memory maximum so memory.grow fails inside
// the guest (returning -1) instead of growing past edged's limit, and
// ExportMutableGlobals exposes the guest's mutable globals so the host can
// snapshot and restore an instance.
//
// The package uses only the standard library; it decodes, but does not fully
// validate, the module: wazero validates the result when it compiles it.
package wasmrw
