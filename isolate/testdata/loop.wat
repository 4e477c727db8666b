;; loop.wat: a runaway guest. handle_request spins in an infinite loop and never
;; calls the host, so only the host's deadline (close-on-done or an equivalent
;; interrupt) can end the invocation.
;;
;; Expected: the invocation fails with the deadline error (504 to the client);
;; the instance is not reused.
;;
;; Build: wat2wasm loop.wat -o loop.wasm (examples/build-guests.sh)
(module $loop
  (memory (export "memory") 1 1)

  (func (export "handle_request") (result i64)
    (loop $forever
      (br $forever))
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)))
