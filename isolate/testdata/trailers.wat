;; trailers.wat: conformance guest for trailers (header kinds 2 and 3).
;; handle_request answers itself (next=0).
;;
;; It calls enable_features(4). If the result lacks the trailers bit (4), it
;; answers 200 "trailers unsupported\n" and touches no trailer. Otherwise:
;;   reads the request body to EOF (request trailers arrive after it)
;;   status   200
;;   x-request-trailer-count   number of request trailer names (kind 2)
;;   x-req-trailer             values of the request trailer "x-req-trailer"
;;                             joined by ","; absent when there is none
;;   body     "trailers ok\n"
;;   response trailers (kind 3): x-resp-trailer: "done" (set_header_value),
;;   x-resp-trailer2: "a" (add_header_value), x-none removed (remove_header
;;   of a trailer that does not exist is not an error)
;;
;; It traps if a trailer list exceeds 16 KiB.
;;
;; Build: wat2wasm trailers.wat -o trailers.wasm (examples/build-guests.sh)
(module $trailers
  (import "http_handler" "enable_features" (func $enable_features (param $features i32) (result i32)))
  (import "http_handler" "get_header_names" (func $get_header_names (param $kind i32) (param $buf i32) (param $buf_limit i32) (result (; count << 32 | len ;) i64)))
  (import "http_handler" "get_header_values" (func $get_header_values (param $kind i32) (param $name i32) (param $name_len i32) (param $buf i32) (param $buf_limit i32) (result (; count << 32 | len ;) i64)))
  (import "http_handler" "set_header_value" (func $set_header_value (param $kind i32) (param $name i32) (param $name_len i32) (param $value i32) (param $value_len i32)))
  (import "http_handler" "add_header_value" (func $add_header_value (param $kind i32) (param $name i32) (param $name_len i32) (param $value i32) (param $value_len i32)))
  (import "http_handler" "remove_header" (func $remove_header (param $kind i32) (param $name i32) (param $name_len i32)))
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
  (global $s_unsupported i32 (i32.const 4096)) (data (i32.const 4096) "trailers unsupported\n")
  (global $s_ok i32 (i32.const 4160)) (data (i32.const 4160) "trailers ok\n")
  (global $s_x_request_trailer_count i32 (i32.const 4224)) (data (i32.const 4224) "x-request-trailer-count")
  (global $s_x_req_trailer i32 (i32.const 4288)) (data (i32.const 4288) "x-req-trailer")
  (global $s_x_resp_trailer i32 (i32.const 4352)) (data (i32.const 4352) "x-resp-trailer")
  (global $s_done i32 (i32.const 4416)) (data (i32.const 4416) "done")
  (global $s_x_resp_trailer2 i32 (i32.const 4480)) (data (i32.const 4480) "x-resp-trailer2")
  (global $s_a i32 (i32.const 4544)) (data (i32.const 4544) "a")
  (global $s_x_none i32 (i32.const 4608)) (data (i32.const 4608) "x-none")

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
    (local $r i64) (local $cl i64) (local $len i32)
    (if (i32.eqz (i32.and (call $enable_features (i32.const 4)) (i32.const 4)))
      (then
        (call $set_status_code (i32.const 200))
        (call $emit (global.get $s_unsupported) (i32.const 21))
        (call $flush)
        (return (i64.const 0))))

    ;; Drain the request body.
    (loop $read
      (local.set $r (call $read_body (i32.const 0) (i32.const 49152) (i32.const 16384)))
      (br_if $read (i64.eqz (i64.shr_u (local.get $r) (i64.const 32)))))

    (call $set_status_code (i32.const 200))
    (local.set $cl (call $get_header_names (i32.const 2) (i32.const 16384) (i32.const 16384)))
    (if (i32.gt_u (i32.wrap_i64 (local.get $cl)) (i32.const 16384)) (then (unreachable)))
    (call $num_header (global.get $s_x_request_trailer_count) (i32.const 23)
      (i32.wrap_i64 (i64.shr_u (local.get $cl) (i64.const 32))))
    (local.set $cl (call $get_header_values (i32.const 2) (global.get $s_x_req_trailer) (i32.const 13) (i32.const 32768) (i32.const 16384)))
    (local.set $len (i32.wrap_i64 (local.get $cl)))
    (if (i32.gt_u (local.get $len) (i32.const 16384)) (then (unreachable)))
    (if (i64.ne (local.get $cl) (i64.const 0))
      (then
        (call $set_header_value (i32.const 1) (global.get $s_x_req_trailer) (i32.const 13)
          (i32.const 32768) (call $commas (i32.const 32768) (local.get $len)))))

    (call $emit (global.get $s_ok) (i32.const 12))
    (call $flush)
    (call $set_header_value (i32.const 3) (global.get $s_x_resp_trailer) (i32.const 14) (global.get $s_done) (i32.const 4))
    (call $add_header_value (i32.const 3) (global.get $s_x_resp_trailer2) (i32.const 15) (global.get $s_a) (i32.const 1))
    (call $remove_header (i32.const 3) (global.get $s_x_none) (i32.const 6))
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)
    ;; never called: handle_request returns next=0
    (unreachable))
)
