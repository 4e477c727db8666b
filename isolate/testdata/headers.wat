;; headers.wat: conformance guest for the request accessors and the header
;; functions of the http-wasm ABI. handle_request answers itself (next=0):
;;
;;   status   201
;;   body     "<method> <uri> <protocol>\n", e.g. "GET /h?x=1 HTTP/1.1\n"
;;   x-header-count   number of request header names (get_header_names)
;;   x-in-values      all values of the request header "X-In", looked up with
;;                    that mixed-case name, joined by "," (e.g. "a,b"); absent
;;                    when the request has no x-in header
;;   x-source-addr    get_source_addr, e.g. "127.0.0.1:54321"
;;   x-set            "2" (set to "1", then overwritten with "2")
;;   x-add            two values, "a" and "b" (add_header_value twice)
;;   x-removed        absent (set, then remove_header)
;;
;; It traps (unreachable) if: a value does not fit its buffer (method 64,
;; URI 2048, protocol 64, source address 128 bytes, names and values 16 KiB);
;; get_header_names with buf_limit 0 returns a different count_len than with
;; a large buffer (the result must not depend on whether memory was written);
;; a name list is not NUL-terminated; or the missing request header
;; "x-missing" has values (its count_len must be 0).
;;
;; Build: wat2wasm headers.wat -o headers.wasm (examples/build-guests.sh)
(module $headers
  (import "http_handler" "get_method" (func $get_method (param $buf i32) (param $buf_limit i32) (result i32)))
  (import "http_handler" "get_uri" (func $get_uri (param $buf i32) (param $buf_limit i32) (result i32)))
  (import "http_handler" "get_protocol_version" (func $get_protocol_version (param $buf i32) (param $buf_limit i32) (result i32)))
  (import "http_handler" "get_source_addr" (func $get_source_addr (param $buf i32) (param $buf_limit i32) (result i32)))
  (import "http_handler" "get_header_names" (func $get_header_names (param $kind i32) (param $buf i32) (param $buf_limit i32) (result (; count << 32 | len ;) i64)))
  (import "http_handler" "get_header_values" (func $get_header_values (param $kind i32) (param $name i32) (param $name_len i32) (param $buf i32) (param $buf_limit i32) (result (; count << 32 | len ;) i64)))
  (import "http_handler" "set_header_value" (func $set_header_value (param $kind i32) (param $name i32) (param $name_len i32) (param $value i32) (param $value_len i32)))
  (import "http_handler" "add_header_value" (func $add_header_value (param $kind i32) (param $name i32) (param $name_len i32) (param $value i32) (param $value_len i32)))
  (import "http_handler" "remove_header" (func $remove_header (param $kind i32) (param $name i32) (param $name_len i32)))
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
  (global $s_x_header_count i32 (i32.const 4096)) (data (i32.const 4096) "x-header-count")
  (global $s_x_in i32 (i32.const 4160)) (data (i32.const 4160) "X-In")
  (global $s_x_in_values i32 (i32.const 4224)) (data (i32.const 4224) "x-in-values")
  (global $s_x_source_addr i32 (i32.const 4288)) (data (i32.const 4288) "x-source-addr")
  (global $s_x_set i32 (i32.const 4352)) (data (i32.const 4352) "x-set")
  (global $s_x_add i32 (i32.const 4416)) (data (i32.const 4416) "x-add")
  (global $s_x_removed i32 (i32.const 4480)) (data (i32.const 4480) "x-removed")
  (global $s_x_missing i32 (i32.const 4544)) (data (i32.const 4544) "x-missing")
  (global $s_one i32 (i32.const 4608)) (data (i32.const 4608) "1")
  (global $s_two i32 (i32.const 4672)) (data (i32.const 4672) "2")
  (global $s_a i32 (i32.const 4736)) (data (i32.const 4736) "a")
  (global $s_b i32 (i32.const 4800)) (data (i32.const 4800) "b")
  (global $s_gone i32 (i32.const 4864)) (data (i32.const 4864) "gone")
  (global $s_space i32 (i32.const 4928)) (data (i32.const 4928) " ")
  (global $s_nl i32 (i32.const 4992)) (data (i32.const 4992) "\n")

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
    (local $method_len i32) (local $uri_len i32) (local $proto_len i32) (local $addr_len i32)
    (local $cl i64) (local $probe i64) (local $len i32) (local $count i32)

    (local.set $method_len (call $get_method (i32.const 1024) (i32.const 64)))
    (if (i32.gt_u (local.get $method_len) (i32.const 64)) (then (unreachable)))
    (local.set $uri_len (call $get_uri (i32.const 2048) (i32.const 2048)))
    (if (i32.gt_u (local.get $uri_len) (i32.const 2048)) (then (unreachable)))
    (local.set $proto_len (call $get_protocol_version (i32.const 1088) (i32.const 64)))
    (if (i32.gt_u (local.get $proto_len) (i32.const 64)) (then (unreachable)))
    (local.set $addr_len (call $get_source_addr (i32.const 1152) (i32.const 128)))
    (if (i32.gt_u (local.get $addr_len) (i32.const 128)) (then (unreachable)))

    ;; Header names: probe with buf_limit 0, then read.
    (local.set $probe (call $get_header_names (i32.const 0) (i32.const 16384) (i32.const 0)))
    (local.set $cl (call $get_header_names (i32.const 0) (i32.const 16384) (i32.const 16384)))
    (if (i64.ne (local.get $probe) (local.get $cl)) (then (unreachable)))
    (local.set $count (i32.wrap_i64 (i64.shr_u (local.get $cl) (i64.const 32))))
    (local.set $len (i32.wrap_i64 (local.get $cl)))
    (if (i32.gt_u (local.get $len) (i32.const 16384)) (then (unreachable)))
    (if (i32.and (i32.ne (local.get $len) (i32.const 0))
          (i32.ne (i32.load8_u (i32.add (i32.const 16383) (local.get $len))) (i32.const 0)))
      (then (unreachable)))
    (call $num_header (global.get $s_x_header_count) (i32.const 14) (local.get $count))

    ;; Values of X-In, joined by commas.
    (local.set $cl (call $get_header_values (i32.const 0) (global.get $s_x_in) (i32.const 4) (i32.const 32768) (i32.const 16384)))
    (local.set $len (i32.wrap_i64 (local.get $cl)))
    (if (i32.gt_u (local.get $len) (i32.const 16384)) (then (unreachable)))
    (if (i64.ne (local.get $cl) (i64.const 0))
      (then
        (call $set_header_value (i32.const 1) (global.get $s_x_in_values) (i32.const 11)
          (i32.const 32768) (call $commas (i32.const 32768) (local.get $len)))))

    ;; A missing header has no values.
    (if (i64.ne (i64.const 0)
          (call $get_header_values (i32.const 0) (global.get $s_x_missing) (i32.const 9) (i32.const 32768) (i32.const 16384)))
      (then (unreachable)))

    (call $set_header_value (i32.const 1) (global.get $s_x_source_addr) (i32.const 13) (i32.const 1152) (local.get $addr_len))
    (call $set_header_value (i32.const 1) (global.get $s_x_set) (i32.const 5) (global.get $s_one) (i32.const 1))
    (call $set_header_value (i32.const 1) (global.get $s_x_set) (i32.const 5) (global.get $s_two) (i32.const 1))
    (call $add_header_value (i32.const 1) (global.get $s_x_add) (i32.const 5) (global.get $s_a) (i32.const 1))
    (call $add_header_value (i32.const 1) (global.get $s_x_add) (i32.const 5) (global.get $s_b) (i32.const 1))
    (call $set_header_value (i32.const 1) (global.get $s_x_removed) (i32.const 9) (global.get $s_gone) (i32.const 4))
    (call $remove_header (i32.const 1) (global.get $s_x_removed) (i32.const 9))

    (call $set_status_code (i32.const 201))
    (call $emit (i32.const 1024) (local.get $method_len))
    (call $emit (global.get $s_space) (i32.const 1))
    (call $emit (i32.const 2048) (local.get $uri_len))
    (call $emit (global.get $s_space) (i32.const 1))
    (call $emit (i32.const 1088) (local.get $proto_len))
    (call $emit (global.get $s_nl) (i32.const 1))
    (call $flush)
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)
    ;; never called: handle_request returns next=0
    (unreachable))
)
