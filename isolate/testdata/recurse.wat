;; recurse.wat: runaway guests without loops, so an interrupt that only checks
;; loop back-edges would miss them.
;;
;; handle_request calls $spin(64); $spin(n) calls $spin(n-1) twice. The call
;; depth never passes 65 frames, but the call count is 2^64: the invocation
;; runs until the host's deadline interrupts it, at a function entry.
;;
;; The export "overflow" is unbounded self-recursion with no base case: calling
;; it exhausts the call stack and traps (a stack-overflow trap, not a hang).
;;
;; Expected: handle_request fails with the deadline error; overflow traps.
;;
;; Build: wat2wasm recurse.wat -o recurse.wasm (examples/build-guests.sh)
(module $recurse
  (memory (export "memory") 1 1)

  (func $spin (param $n i32)
    (if (i32.eqz (local.get $n))
      (then (return)))
    (call $spin (i32.sub (local.get $n) (i32.const 1)))
    (call $spin (i32.sub (local.get $n) (i32.const 1))))

  (func $overflow (export "overflow") (param $n i32) (result i32)
    ;; The addition after the call keeps it from being a tail call.
    (i32.add (call $overflow (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))

  (func (export "handle_request") (result i64)
    (call $spin (i32.const 64))
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)))
