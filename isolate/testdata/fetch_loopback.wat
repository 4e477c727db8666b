;; fetch_loopback.wat: fetches GET <config> through edged.fetch, the URL being
;; the whole of the function config (get_config), e.g.
;; "http://127.0.0.1:PORT/", and answers 200 with the returned code as the
;; body, in decimal. A handle (> 0) is closed. A config over 4096 bytes traps.
;;
;; Expected: "-1" (EGRESS_DENIED) even when the allow-list admits the URL:
;; loopback destinations are refused after DNS resolution unless explicitly
;; allowed; the test server must see no connection. When loopback is allowed,
;; the body is a positive handle (e.g. "1").
;;
;; Build: wat2wasm fetch_loopback.wat -o fetch_loopback.wasm (examples/build-guests.sh)
(module $fetch_loopback
  (import "http_handler" "set_status_code" (func $set_status_code (param i32)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (import "http_handler" "get_config" (func $get_config (param i32 i32) (result i32)))
  (import "edged" "fetch" (func $fetch
    (param $method i32) (param $method_len i32)
    (param $url i32) (param $url_len i32)
    (param $headers i32) (param $headers_len i32)
    (param $body i32) (param $body_len i32)
    (result (; handle > 0 or error < 0 ;) i32)))
  (import "edged" "fetch_close" (func $fetch_close (param i32)))

  ;; [0, 16) method, [256, 272) itoa scratch, [512, 528) output,
  ;; [1024, 5120) URL.
  (memory (export "memory") 1 1)
  (data (i32.const 0) "GET")


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
    (local $url_len i32) (local $h i32)
    (local.set $url_len (call $get_config (i32.const 1024) (i32.const 4096)))
    (if (i32.gt_u (local.get $url_len) (i32.const 4096))
      (then (unreachable)))
    (local.set $h (call $fetch
      (i32.const 0) (i32.const 3)
      (i32.const 1024) (local.get $url_len)
      (i32.const 0) (i32.const 0)
      (i32.const 0) (i32.const 0)))
    (if (i32.gt_s (local.get $h) (i32.const 0))
      (then (call $fetch_close (local.get $h))))
    (call $set_status_code (i32.const 200))
    (call $write_body (i32.const 1) (i32.const 512)
      (call $itoa (local.get $h) (i32.const 512)))
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)))
