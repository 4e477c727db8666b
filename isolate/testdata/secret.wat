;; secret.wat: reads the secret whose name is the whole function config
;; (get_config, at most 1024 bytes) with edged.secret_get and answers 200 with
;; the returned value as the body, in decimal: the secret's length, or -1.
;; When the secret fits the 4096-byte buffer, its value is also sent as the
;; response header "x-secret".
;;
;; It first calls secret_get with buf_limit 0 and traps unless that returns
;; the same value as the real call: the length is returned whether or not
;; the value was written.
;;
;; Expected: for a secret granted to the function, body "<len>" and
;; "x-secret: <value>"; for a secret that does not exist or is not granted,
;; body "-1" and no x-secret header (the two cases are indistinguishable).
;;
;; Build: wat2wasm secret.wat -o secret.wasm (examples/build-guests.sh)
(module $secret
  (import "http_handler" "get_config" (func $get_config (param i32 i32) (result i32)))
  (import "http_handler" "set_status_code" (func $set_status_code (param i32)))
  (import "http_handler" "set_header_value" (func $set_header_value (param i32 i32 i32 i32 i32)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (import "edged" "secret_get" (func $secret_get
    (param $name i32) (param $name_len i32)
    (param $buf i32) (param $buf_limit i32)
    (result (; len or -1 ;) i32)))

  ;; [0, 16) header name, [256, 272) itoa scratch, [512, 528) output,
  ;; [1024, 2048) secret name, [4096, 8192) secret value.
  (memory (export "memory") 1 1)
  (data (i32.const 0) "x-secret")

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
    (local $name_len i32) (local $probe i32) (local $n i32)
    (local.set $name_len (call $get_config (i32.const 1024) (i32.const 1024)))
    (if (i32.gt_u (local.get $name_len) (i32.const 1024))
      (then (unreachable)))
    (local.set $probe (call $secret_get
      (i32.const 1024) (local.get $name_len) (i32.const 4096) (i32.const 0)))
    (local.set $n (call $secret_get
      (i32.const 1024) (local.get $name_len) (i32.const 4096) (i32.const 4096)))
    (if (i32.ne (local.get $probe) (local.get $n))
      (then (unreachable)))
    (call $set_status_code (i32.const 200))
    (if (i32.and
          (i32.ge_s (local.get $n) (i32.const 0))
          (i32.le_s (local.get $n) (i32.const 4096)))
      (then
        (call $set_header_value (i32.const 1)
          (i32.const 0) (i32.const 8)
          (i32.const 4096) (local.get $n))))
    (call $write_body (i32.const 1) (i32.const 512)
      (call $itoa (local.get $n) (i32.const 512)))
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)))
