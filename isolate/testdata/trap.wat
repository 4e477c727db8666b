;; trap.wat: handle_request executes `unreachable` before touching the host.
;;
;; Expected: the invocation fails with the trap error (a 5xx to the client, or
;; a fallback to legacy when safe); the instance is not reused.
;;
;; Build: wat2wasm trap.wat -o trap.wasm (examples/build-guests.sh)
(module $trap
  (memory (export "memory") 1 1)

  (func (export "handle_request") (result i64)
    (unreachable))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)))
