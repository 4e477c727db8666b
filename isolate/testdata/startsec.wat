;; startsec.wat: a guest whose start section (not an export) calls host
;; functions, as the wasm spec lets a module do at instantiation. $init, the
;; start function:
;;   copies the data segment "seen in start" to [3072, 3085): data segments
;;   are laid out before the start function runs
;;   get_config into [2048, 3072)
;;   enable_features(1), kept for handle_request
;;
;; handle_request answers itself (next=0), status 200, body "start ok\n":
;;   x-start-config     the config the start function read
;;   x-start-data       the bytes the start function copied
;;   x-start-features   what enable_features(1) returned in the start function
;;   x-features         enable_features(0) now: start-up features hold for
;;                      every request
;;
;; Build: wat2wasm startsec.wat -o startsec.wasm (examples/build-guests.sh)
(module $startsec
  (import "http_handler" "enable_features" (func $enable_features (param $features i32) (result i32)))
  (import "http_handler" "get_config" (func $get_config (param $buf i32) (param $buf_limit i32) (result i32)))
  (import "http_handler" "set_header_value" (func $set_header_value (param $kind i32) (param $name i32) (param $name_len i32) (param $value i32) (param $value_len i32)))
  (import "http_handler" "write_body" (func $write_body (param $kind i32) (param $body i32) (param $body_len i32)))

  ;; Memory layout: [256, 272) itoa scratch; [512, 528) itoa output;
  ;; [2048, 3072) config; [3072, 3136) copied data; [4096, 8192) string
  ;; constants, 64-byte slots.
  (memory (export "memory") 1 1)

  (global $cfg_len (mut i32) (i32.const 0))
  (global $start_features (mut i32) (i32.const -1))

  (global $s_seen i32 (i32.const 4096)) (data (i32.const 4096) "seen in start")
  (global $s_x_start_config i32 (i32.const 4160)) (data (i32.const 4160) "x-start-config")
  (global $s_x_start_data i32 (i32.const 4224)) (data (i32.const 4224) "x-start-data")
  (global $s_x_start_features i32 (i32.const 4288)) (data (i32.const 4288) "x-start-features")
  (global $s_x_features i32 (i32.const 4352)) (data (i32.const 4352) "x-features")
  (global $s_ok i32 (i32.const 4416)) (data (i32.const 4416) "start ok\n")

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

  (func $init
    (memory.copy (i32.const 3072) (global.get $s_seen) (i32.const 13))
    (global.set $cfg_len (call $get_config (i32.const 2048) (i32.const 1024)))
    (if (i32.gt_u (global.get $cfg_len) (i32.const 1024)) (then (unreachable)))
    (global.set $start_features (call $enable_features (i32.const 1))))
  (start $init)

  (func (export "handle_request") (result i64)
    (call $set_header_value (i32.const 1) (global.get $s_x_start_config) (i32.const 14)
      (i32.const 2048) (global.get $cfg_len))
    (call $set_header_value (i32.const 1) (global.get $s_x_start_data) (i32.const 12)
      (i32.const 3072) (i32.const 13))
    (call $set_header_value (i32.const 1) (global.get $s_x_start_features) (i32.const 16)
      (i32.const 512) (call $itoa (global.get $start_features) (i32.const 512)))
    (call $set_header_value (i32.const 1) (global.get $s_x_features) (i32.const 10)
      (i32.const 512) (call $itoa (call $enable_features (i32.const 0)) (i32.const 512)))
    (call $write_body (i32.const 1) (global.get $s_ok) (i32.const 9))
    (i64.const 0))
)
