;; next.wat: conformance guest for middleware: handle_request changes the
;; request and returns next with a request context; handle_response changes
;; the upstream's response.
;;
;; handle_request:
;;   enable_features(3)                  buffer request and response
;;   set_method("PUT")
;;   set_uri("/rewritten?by=next")
;;   request header x-next: "1"          set_header_value
;;   request header x-multi: + "b"       add_header_value (keeps existing values)
;;   request header x-drop               removed
;;   request body                        replaced by "replaced request body"
;;   returns 42<<32 | 1                  next, reqCtx 42
;;
;; handle_response(reqCtx, is_error): traps unless reqCtx is 42. When is_error
;; is 1 it only sets "x-is-error: 1". Otherwise:
;;   x-upstream-status    the upstream's status (get_status_code), decimal
;;   status               203
;;   x-next-response      "1"
;;   x-upstream-drop      removed from the upstream's response
;;   body                 "wrapped:" followed by the upstream's body (at most
;;                        16 KiB is read), so the client gets
;;                        "wrapped:<upstream body>"
;;
;; So an upstream that echoes the request sees method PUT, URI
;; /rewritten?by=next, headers x-next: 1, x-multi: <original values>, b, no
;; x-drop, and body "replaced request body".
;;
;; Build: wat2wasm next.wat -o next.wasm (examples/build-guests.sh)
(module $next
  (import "http_handler" "enable_features" (func $enable_features (param $features i32) (result i32)))
  (import "http_handler" "set_method" (func $set_method (param $method i32) (param $method_len i32)))
  (import "http_handler" "set_uri" (func $set_uri (param $uri i32) (param $uri_len i32)))
  (import "http_handler" "set_header_value" (func $set_header_value (param $kind i32) (param $name i32) (param $name_len i32) (param $value i32) (param $value_len i32)))
  (import "http_handler" "add_header_value" (func $add_header_value (param $kind i32) (param $name i32) (param $name_len i32) (param $value i32) (param $value_len i32)))
  (import "http_handler" "remove_header" (func $remove_header (param $kind i32) (param $name i32) (param $name_len i32)))
  (import "http_handler" "read_body" (func $read_body (param $kind i32) (param $buf i32) (param $buf_limit i32) (result (; eof << 32 | len ;) i64)))
  (import "http_handler" "write_body" (func $write_body (param $kind i32) (param $body i32) (param $body_len i32)))
  (import "http_handler" "get_status_code" (func $get_status_code (result i32)))
  (import "http_handler" "set_status_code" (func $set_status_code (param $status_code i32)))

  ;; Memory layout: [256, 272) itoa scratch; [1024, 1088) method;
  ;; [1088, 1152) protocol; [1152, 1280) source address; [2048, 4096) URI;
  ;; [4096, 8192) string constants, 64-byte slots; [8192, 16384) response body
  ;; being built; [16384, 32768) header names; [32768, 49152) header values;
  ;; [49152, 65536) request or response body.
  (memory (export "memory") 1 1)

  ;; $out is the end of the response body being built at 8192.
  (global $out (mut i32) (i32.const 8192))

  ;; $emit appends [ptr, ptr+len) to the response body being built.
  (func $emit (param $ptr i32) (param $len i32)
    (memory.copy (global.get $out) (local.get $ptr) (local.get $len))
    (global.set $out (i32.add (global.get $out) (local.get $len))))

  ;; $flush writes the built body with one write_body call and resets it.
  (func $flush
    (call $write_body (i32.const 1)
      (i32.const 8192) (i32.sub (global.get $out) (i32.const 8192)))
    (global.set $out (i32.const 8192)))

  ;; $commas turns a NUL-terminated list at [ptr, ptr+len) into a
  ;; comma-separated one in place and returns its new length (len-1; 0 for an
  ;; empty list).
  (func $commas (param $ptr i32) (param $len i32) (result i32)
    (local $i i32)
    (if (i32.eqz (local.get $len)) (then (return (i32.const 0))))
    (loop $each
      (if (i32.eqz (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (then (i32.store8 (i32.add (local.get $ptr) (local.get $i)) (i32.const 44))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $i) (local.get $len))))
    (i32.sub (local.get $len) (i32.const 1)))

  ;; $num_header sets response header [name, name+name_len) to the decimal $v.
  (func $num_header (param $name i32) (param $name_len i32) (param $v i32)
    (call $set_header_value (i32.const 1) (local.get $name) (local.get $name_len)
      (i32.const 512) (call $itoa (local.get $v) (i32.const 512))))

  ;; String constants: $s_NAME is the address, the length is written at each use.
  (global $s_put i32 (i32.const 4096)) (data (i32.const 4096) "PUT")
  (global $s_uri i32 (i32.const 4160)) (data (i32.const 4160) "/rewritten?by=next")
  (global $s_x_next i32 (i32.const 4224)) (data (i32.const 4224) "x-next")
  (global $s_x_multi i32 (i32.const 4288)) (data (i32.const 4288) "x-multi")
  (global $s_x_drop i32 (i32.const 4352)) (data (i32.const 4352) "x-drop")
  (global $s_reqbody i32 (i32.const 4416)) (data (i32.const 4416) "replaced request body")
  (global $s_one i32 (i32.const 4480)) (data (i32.const 4480) "1")
  (global $s_b i32 (i32.const 4544)) (data (i32.const 4544) "b")
  (global $s_x_is_error i32 (i32.const 4608)) (data (i32.const 4608) "x-is-error")
  (global $s_x_upstream_status i32 (i32.const 4672)) (data (i32.const 4672) "x-upstream-status")
  (global $s_x_next_response i32 (i32.const 4736)) (data (i32.const 4736) "x-next-response")
  (global $s_x_upstream_drop i32 (i32.const 4800)) (data (i32.const 4800) "x-upstream-drop")
  (global $s_wrapped i32 (i32.const 4864)) (data (i32.const 4864) "wrapped:")

  ;; $itoa writes the decimal form of the signed $v at $dst and returns its
  ;; length (at most 11 bytes). It uses [256, 272) as scratch.
  (func $itoa (param $v i32) (param $dst i32) (result i32)
    (local $u i32) (local $p i32) (local $len i32)
    (local.set $p (i32.const 272))
    (local.set $u (local.get $v))
    (if (i32.lt_s (local.get $v) (i32.const 0))
      (then (local.set $u (i32.sub (i32.const 0) (local.get $v)))))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) (i32.rem_u (local.get $u) (i32.const 10))))
      (local.set $u (i32.div_u (local.get $u) (i32.const 10)))
      (br_if $digits (local.get $u)))
    (if (i32.lt_s (local.get $v) (i32.const 0))
      (then
        (local.set $p (i32.sub (local.get $p) (i32.const 1)))
        (i32.store8 (local.get $p) (i32.const 45))))
    (local.set $len (i32.sub (i32.const 272) (local.get $p)))
    (memory.copy (local.get $dst) (local.get $p) (local.get $len))
    (local.get $len))



  (func (export "handle_request") (result i64)
    (drop (call $enable_features (i32.const 3)))
    (call $set_method (global.get $s_put) (i32.const 3))
    (call $set_uri (global.get $s_uri) (i32.const 18))
    (call $set_header_value (i32.const 0) (global.get $s_x_next) (i32.const 6) (global.get $s_one) (i32.const 1))
    (call $add_header_value (i32.const 0) (global.get $s_x_multi) (i32.const 7) (global.get $s_b) (i32.const 1))
    (call $remove_header (i32.const 0) (global.get $s_x_drop) (i32.const 6))
    (call $write_body (i32.const 0) (global.get $s_reqbody) (i32.const 21))
    (i64.or (i64.shl (i64.const 42) (i64.const 32)) (i64.const 1)))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)
    (local $n i32) (local $r i64)
    (if (i32.ne (local.get $reqCtx) (i32.const 42)) (then (unreachable)))
    (if (local.get $is_error)
      (then
        (call $set_header_value (i32.const 1) (global.get $s_x_is_error) (i32.const 10) (global.get $s_one) (i32.const 1))
        (return)))
    (call $num_header (global.get $s_x_upstream_status) (i32.const 17) (call $get_status_code))
    (call $set_status_code (i32.const 203))
    (call $set_header_value (i32.const 1) (global.get $s_x_next_response) (i32.const 15) (global.get $s_one) (i32.const 1))
    (call $remove_header (i32.const 1) (global.get $s_x_upstream_drop) (i32.const 15))

    ;; Read the upstream's body (at most 16 KiB), then rewrite it.
    (block $done
      (loop $read
        (br_if $done (i32.ge_u (local.get $n) (i32.const 16384)))
        (local.set $r (call $read_body (i32.const 1)
          (i32.add (i32.const 49152) (local.get $n)) (i32.sub (i32.const 16384) (local.get $n))))
        (local.set $n (i32.add (local.get $n) (i32.wrap_i64 (local.get $r))))
        (br_if $done (i64.ne (i64.shr_u (local.get $r) (i64.const 32)) (i64.const 0)))
        (br $read)))
    (call $emit (global.get $s_wrapped) (i32.const 8))
    (call $flush)
    (call $write_body (i32.const 1) (i32.const 49152) (local.get $n)))
)
