;; publish.wat: calls edged.publish as the request asks and answers 200 with
;; the result codes, comma-separated, as the body ("0", "0,0,-2", ...), and
;; edged.abi_version as the response header "x-abi".
;;
;; The request says what to publish:
;;   x-subject   the subject (up to 1024 bytes; absent = empty)
;;   x-type      the CloudEvents type (up to 1024 bytes; absent = empty)
;;   x-repeat    how many times to publish, decimal (absent = 1)
;;   x-data-len  the data length passed to the host, decimal (absent = the
;;               body's length): a length past the body, even past the
;;               guest's memory, lets tests probe the host's bounds
;;   body        the data (up to 64 KiB), at offset 65536
;;
;; Expected: "0" per event the host published; negative edged error codes
;; otherwise (docs/abi.md, "publish"). The guest never traps on an error code.
;;
;; Build: wat2wasm publish.wat -o publish.wasm (examples/build-guests.sh)
(module $publish
  (import "http_handler" "get_header_values" (func $get_header_values
    (param i32 i32 i32 i32 i32) (result i64)))
  (import "http_handler" "read_body" (func $read_body (param i32 i32 i32) (result i64)))
  (import "http_handler" "set_status_code" (func $set_status_code (param i32)))
  (import "http_handler" "set_header_value" (func $set_header_value (param i32 i32 i32 i32 i32)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (import "edged" "abi_version" (func $abi_version (result i32)))
  (import "edged" "publish" (func $publish
    (param $subject i32) (param $subject_len i32)
    (param $ce_type i32) (param $ce_type_len i32)
    (param $data i32) (param $data_len i32)
    (result (; 0 or error < 0 ;) i32)))

  ;; [0, 128) header names and ",", [256, 272) itoa scratch, [512, 528)
  ;; output, [1024, 2048) subject, [2048, 3072) type, [3072, 3104) repeat,
  ;; [3104, 3136) data length, [65536, 131072) body.
  (memory (export "memory") 2 2)
  (data (i32.const 0) "x-subject")
  (data (i32.const 16) "x-type")
  (data (i32.const 32) "x-repeat")
  (data (i32.const 48) "x-data-len")
  (data (i32.const 64) "x-abi")
  (data (i32.const 80) ",")

  ;; $header copies the request header $name's value (NUL-terminated by the
  ;; host) to $buf and returns its length without the NUL, or -1 when the
  ;; header is absent or longer than $limit - 1.
  (func $header (param $name i32) (param $name_len i32) (param $buf i32) (param $limit i32) (result i32)
    (local $r i64) (local $len i32)
    (local.set $r (call $get_header_values (i32.const 0)
      (local.get $name) (local.get $name_len) (local.get $buf) (local.get $limit)))
    (local.set $len (i32.wrap_i64 (local.get $r)))
    (if (i32.or
          (i64.eqz (i64.shr_u (local.get $r) (i64.const 32)))
          (i32.gt_u (local.get $len) (local.get $limit)))
      (then (return (i32.const -1))))
    (i32.sub (local.get $len) (i32.const 1)))

  ;; $atoi parses the decimal digits at [$p, $p+$n), modulo 2^32.
  (func $atoi (param $p i32) (param $n i32) (result i32)
    (local $v i32) (local $end i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $digits
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $v (i32.add
          (i32.mul (local.get $v) (i32.const 10))
          (i32.sub (i32.load8_u (local.get $p)) (i32.const 48))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $digits)))
    (local.get $v))

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
    (local $subject_len i32) (local $type_len i32) (local $repeat i32)
    (local $data_len i32) (local $n i32) (local $i i32)
    (local.set $subject_len (call $header (i32.const 0) (i32.const 9) (i32.const 1024) (i32.const 1024)))
    (if (i32.lt_s (local.get $subject_len) (i32.const 0))
      (then (local.set $subject_len (i32.const 0))))
    (local.set $type_len (call $header (i32.const 16) (i32.const 6) (i32.const 2048) (i32.const 1024)))
    (if (i32.lt_s (local.get $type_len) (i32.const 0))
      (then (local.set $type_len (i32.const 0))))
    (local.set $repeat (i32.const 1))
    (local.set $n (call $header (i32.const 32) (i32.const 8) (i32.const 3072) (i32.const 32)))
    (if (i32.ge_s (local.get $n) (i32.const 0))
      (then (local.set $repeat (call $atoi (i32.const 3072) (local.get $n)))))
    (local.set $data_len (i32.wrap_i64
      (call $read_body (i32.const 0) (i32.const 65536) (i32.const 65536))))
    (local.set $n (call $header (i32.const 48) (i32.const 10) (i32.const 3104) (i32.const 32)))
    (if (i32.ge_s (local.get $n) (i32.const 0))
      (then (local.set $data_len (call $atoi (i32.const 3104) (local.get $n)))))

    (call $set_status_code (i32.const 200))
    (call $set_header_value (i32.const 1) (i32.const 64) (i32.const 5)
      (i32.const 512) (call $itoa (call $abi_version) (i32.const 512)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $repeat)))
        (local.set $n (call $publish
          (i32.const 1024) (local.get $subject_len)
          (i32.const 2048) (local.get $type_len)
          (i32.const 65536) (local.get $data_len)))
        (if (local.get $i)
          (then (call $write_body (i32.const 1) (i32.const 80) (i32.const 1))))
        (call $write_body (i32.const 1) (i32.const 512)
          (call $itoa (local.get $n) (i32.const 512)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)))
