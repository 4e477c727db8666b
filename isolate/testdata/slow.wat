;; slow.wat: a healthy but slow guest. handle_request counts down a loop of
;; 3,000,000 iterations (a few milliseconds, with deadline instrumentation)
;; and then answers 200 "slow\n". It never fails: only a latency gate can tell
;; it from a good implementation.
;;
;; Expected: 200 "slow\n" within the default deadline; a migration whose
;; max_latency_ratio compares it with a fast legacy endpoint rolls back.
;;
;; Build: wat2wasm slow.wat -o slow.wasm (examples/build-guests.sh)
(module $slow
  (import "http_handler" "set_status_code" (func $set_status_code (param i32)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "slow\n")

  (func (export "handle_request") (result i64)
    (local $n i32)
    (local.set $n (i32.const 3000000))
    (loop $spin
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $spin (i32.gt_s (local.get $n) (i32.const 0))))
    (call $set_status_code (i32.const 200))
    (call $write_body (i32.const 1) (i32.const 0) (i32.const 5))
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)))
