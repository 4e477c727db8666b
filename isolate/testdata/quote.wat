;; quote.wat: a priced quote, for the record-and-replay tests (corpus, replay,
;; internal/daemon). It asks for the secret "api_token" (secret_get with a
;; zero-length buffer: only the name matters), fetches GET <config> (the whole
;; function config, a URL such as "http://127.0.0.1:PORT/rate") through
;; edged.fetch, reads at most 256 bytes of the answer, a JSON number, and
;; answers 200 "content-type: application/json" with the body
;; {"quote":RATE}.
;; A failed fetch answers 502 with an empty body.
;;
;; Build: wat2wasm quote.wat -o quote.wasm (examples/build-guests.sh)
(module $quote
  (import "http_handler" "get_config" (func $get_config (param i32 i32) (result i32)))
  (import "http_handler" "set_status_code" (func $set_status_code (param i32)))
  (import "http_handler" "set_header_value" (func $set_header_value (param i32 i32 i32 i32 i32)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (import "edged" "secret_get" (func $secret_get
    (param $name i32) (param $name_len i32)
    (param $buf i32) (param $buf_limit i32)
    (result (; len or -1 ;) i32)))
  (import "edged" "fetch" (func $fetch
    (param $method i32) (param $method_len i32)
    (param $url i32) (param $url_len i32)
    (param $headers i32) (param $headers_len i32)
    (param $body i32) (param $body_len i32)
    (result (; handle > 0 or error < 0 ;) i32)))
  (import "edged" "fetch_read" (func $fetch_read
    (param $handle i32) (param $buf i32) (param $buf_limit i32)
    (result (; eof<<32 | len, or error < 0 ;) i64)))
  (import "edged" "fetch_close" (func $fetch_close (param i32)))

  ;; [0, 16) method, [16, 32) secret name, [32, 48) header name,
  ;; [48, 64) header value, [64, 80) body prefix, [80, 96) body suffix,
  ;; [1024, 2048) URL, [2048, 2304) the fetched rate.
  (memory (export "memory") 1 1)
  (data (i32.const 0) "GET")
  (data (i32.const 16) "api_token")
  (data (i32.const 32) "content-type")
  (data (i32.const 48) "application/json")
  (data (i32.const 64) "{\"quote\":")
  (data (i32.const 80) "}")

  (func (export "handle_request") (result i64)
    (local $url_len i32) (local $h i32) (local $r i64) (local $total i32)
    (local.set $url_len (call $get_config (i32.const 1024) (i32.const 1024)))
    (if (i32.gt_u (local.get $url_len) (i32.const 1024))
      (then (unreachable)))
    (drop (call $secret_get (i32.const 16) (i32.const 9) (i32.const 0) (i32.const 0)))
    (local.set $h (call $fetch
      (i32.const 0) (i32.const 3)
      (i32.const 1024) (local.get $url_len)
      (i32.const 0) (i32.const 0)
      (i32.const 0) (i32.const 0)))
    (if (i32.le_s (local.get $h) (i32.const 0))
      (then
        (call $set_status_code (i32.const 502))
        (return (i64.const 0))))
    (loop $read
      (local.set $r (call $fetch_read (local.get $h)
        (i32.add (i32.const 2048) (local.get $total))
        (i32.sub (i32.const 256) (local.get $total))))
      (if (i64.lt_s (local.get $r) (i64.const 0))
        (then
          (call $fetch_close (local.get $h))
          (call $set_status_code (i32.const 502))
          (return (i64.const 0))))
      (local.set $total (i32.add (local.get $total)
        (i32.wrap_i64 (i64.and (local.get $r) (i64.const 0xffffffff)))))
      (br_if $read (i32.and
        (i64.eqz (i64.shr_u (local.get $r) (i64.const 32)))
        (i32.lt_u (local.get $total) (i32.const 256)))))
    (call $fetch_close (local.get $h))
    (call $set_status_code (i32.const 200))
    (call $set_header_value (i32.const 1)
      (i32.const 32) (i32.const 12) (i32.const 48) (i32.const 16))
    (call $write_body (i32.const 1) (i32.const 64) (i32.const 9))
    (call $write_body (i32.const 1) (i32.const 2048) (local.get $total))
    (call $write_body (i32.const 1) (i32.const 80) (i32.const 1))
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)))
