;; publish_init.wat: calls edged.publish from _initialize, before any
;; request, and answers every request with 200 and the code it got there as
;; the body, "-9" (UNAVAILABLE: publishing needs an invocation) or "0".
;;
;; Build: wat2wasm publish_init.wat -o publish_init.wasm (examples/build-guests.sh)
(module $publish_init
  (import "http_handler" "set_status_code" (func $set_status_code (param i32)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (import "edged" "publish" (func $publish
    (param i32 i32 i32 i32 i32 i32) (result i32)))

  ;; [0, 8) subject "a", [8, 16) type "t", [16, 20) the code, as text.
  (memory (export "memory") 1 1)
  (data (i32.const 0) "a")
  (data (i32.const 8) "t")
  (global $code (mut i32) (i32.const 1))

  (func (export "_initialize")
    (global.set $code (call $publish
      (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 0) (i32.const 0))))

  (func (export "handle_request") (result i64)
    (call $set_status_code (i32.const 200))
    (if (i32.eqz (global.get $code))
      (then
        (i32.store8 (i32.const 16) (i32.const 48))
        (call $write_body (i32.const 1) (i32.const 16) (i32.const 1)))
      (else
        ;; Only 0 and single-digit negative codes are expected here.
        (i32.store8 (i32.const 16) (i32.const 45))
        (i32.store8 (i32.const 17)
          (i32.add (i32.const 48) (i32.sub (i32.const 0) (global.get $code))))
        (call $write_body (i32.const 1) (i32.const 16) (i32.const 2))))
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)))
