;; bigoutput.wat: a guest that writes a 64 MiB response body, 1024 write_body
;; calls of the same 64 KiB chunk of 'x' bytes, after setting status 200.
;;
;; Expected: the host's response-body cap stops it: the invocation fails with
;; the body-size limit error and the client gets a 5xx, never 64 MiB and never
;; an out-of-memory host. With a cap of at least 64 MiB the client gets 200 and
;; 67108864 bytes of 'x'.
;;
;; Build: wat2wasm bigoutput.wat -o bigoutput.wasm (examples/build-guests.sh)
(module $bigoutput
  (import "http_handler" "set_status_code" (func $set_status_code (param i32)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))

  ;; Page 0 is unused; page 1 holds the chunk.
  (memory (export "memory") 2 2)

  (func (export "handle_request") (result i64)
    (local $i i32)
    (memory.fill (i32.const 65536) (i32.const 120 (; 'x' ;)) (i32.const 65536))
    (call $set_status_code (i32.const 200))
    (loop $chunks
      (call $write_body (i32.const 1 (; response ;)) (i32.const 65536) (i32.const 65536))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $chunks (i32.lt_u (local.get $i) (i32.const 1024))))
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)))
