;; body.wat: conformance guest for the body and administrative functions of
;; the http-wasm ABI. handle_request answers itself (next=0):
;;
;;   status   200
;;   body     "echo:" followed by the request body (at most 16 KiB; the rest
;;            is not read), written with two write_body calls, so the second
;;            must append to the first
;;   x-body-len       request body bytes read
;;   x-reads          read_body calls made; the body is read 7 bytes at a time,
;;                    so a 20-byte body takes 3 or 4 calls (the host may report
;;                    EOF with the last bytes or in an extra empty read)
;;   x-features       enable_features(0): the features enabled, 0 as it enables none
;;   x-log-enabled    log_enabled(info): "1" or "0"
;;   x-config         the function config (get_config), when at most 1024 bytes
;;
;; It also logs "body.wat: handled a request" at info level (log). It never
;; traps: a config over 1024 bytes is simply not echoed.
;;
;; Build: wat2wasm body.wat -o body.wasm (examples/build-guests.sh)
(module $body
  (import "http_handler" "enable_features" (func $enable_features (param $features i32) (result i32)))
  (import "http_handler" "get_config" (func $get_config (param $buf i32) (param $buf_limit i32) (result i32)))
  (import "http_handler" "log_enabled" (func $log_enabled (param $level i32) (result i32)))
  (import "http_handler" "log" (func $log (param $level i32) (param $msg i32) (param $msg_len i32)))
  (import "http_handler" "set_header_value" (func $set_header_value (param $kind i32) (param $name i32) (param $name_len i32) (param $value i32) (param $value_len i32)))
  (import "http_handler" "read_body" (func $read_body (param $kind i32) (param $buf i32) (param $buf_limit i32) (result (; eof << 32 | len ;) i64)))
  (import "http_handler" "write_body" (func $write_body (param $kind i32) (param $body i32) (param $body_len i32)))
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
  (global $s_echo i32 (i32.const 4096)) (data (i32.const 4096) "echo:")
  (global $s_x_body_len i32 (i32.const 4160)) (data (i32.const 4160) "x-body-len")
  (global $s_x_reads i32 (i32.const 4224)) (data (i32.const 4224) "x-reads")
  (global $s_x_features i32 (i32.const 4288)) (data (i32.const 4288) "x-features")
  (global $s_x_log_enabled i32 (i32.const 4352)) (data (i32.const 4352) "x-log-enabled")
  (global $s_x_config i32 (i32.const 4416)) (data (i32.const 4416) "x-config")
  (global $s_logmsg i32 (i32.const 4480)) (data (i32.const 4480) "body.wat: handled a request")

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
    (local $n i32) (local $reads i32) (local $r i64) (local $cfg i32)

    (call $num_header (global.get $s_x_features) (i32.const 10) (call $enable_features (i32.const 0)))
    (call $num_header (global.get $s_x_log_enabled) (i32.const 13) (call $log_enabled (i32.const 0)))
    (local.set $cfg (call $get_config (i32.const 16384) (i32.const 1024)))
    (if (i32.le_u (local.get $cfg) (i32.const 1024))
      (then (call $set_header_value (i32.const 1) (global.get $s_x_config) (i32.const 8) (i32.const 16384) (local.get $cfg))))

    ;; Read the request body 7 bytes at a time until EOF or 16 KiB.
    (block $done
      (loop $read
        (br_if $done (i32.gt_u (i32.add (local.get $n) (i32.const 7)) (i32.const 16384)))
        (local.set $r (call $read_body (i32.const 0)
          (i32.add (i32.const 49152) (local.get $n)) (i32.const 7)))
        (local.set $reads (i32.add (local.get $reads) (i32.const 1)))
        (local.set $n (i32.add (local.get $n) (i32.wrap_i64 (local.get $r))))
        (br_if $done (i64.ne (i64.shr_u (local.get $r) (i64.const 32)) (i64.const 0)))
        (br $read)))
    (call $num_header (global.get $s_x_body_len) (i32.const 10) (local.get $n))
    (call $num_header (global.get $s_x_reads) (i32.const 7) (local.get $reads))

    (call $log (i32.const 0) (global.get $s_logmsg) (i32.const 27))
    (call $set_status_code (i32.const 200))
    (call $emit (global.get $s_echo) (i32.const 5))
    (call $flush)
    (call $write_body (i32.const 1) (i32.const 49152) (local.get $n))
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)
    ;; never called: handle_request returns next=0
    (unreachable))
)
