;; spin.wat: a healthy guest that takes a while. handle_request counts down a
;; loop of 200,000,000 iterations (roughly 100-300ms on a laptop core, with
;; deadline instrumentation) and then answers 200 "spun\n". It never fails,
;; so an event handled by it is mid-processing for long enough that a test
;; can kill the daemon under it.
;;
;; Expected: 200 "spun\n" under a deadline of a few seconds.
;;
;; Build: wat2wasm spin.wat -o spin.wasm (examples/build-guests.sh)
(module $spin
  (import "http_handler" "set_status_code" (func $set_status_code (param i32)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "spun\n")

  (func (export "handle_request") (result i64)
    (local $n i32)
    (local.set $n (i32.const 200000000))
    (loop $spin
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $spin (i32.gt_s (local.get $n) (i32.const 0))))
    (call $set_status_code (i32.const 200))
    (call $write_body (i32.const 1) (i32.const 0) (i32.const 5))
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)))
