;; conformance.wat: the http-wasm conformance guest. It is a WASI command
;; (exports _start, no _initialize, as TinyGo builds http-wasm guests), and it
;; calls every host function of "http_handler" in both phases: handle_request
;; inspects the request, changes it, writes early response fields and
;; returns next with reqCtx 7; handle_response inspects and rewrites the
;; upstream's answer. Every observation is reported as a response header, so
;; a test reads the whole conversation off the client's response.
;;
;; _start (once, at load): get_config into [2048, 3072), then proc_exit(0),
;; as a command's runtime may do when main returns.
;;
;; handle_request (request phase), response headers:
;;   x-start            the config _start read (absent if _start never ran)
;;   x-features-none    enable_features(0): 0 unless start-up enabled some
;;   x-features         enable_features(3): the features now enabled
;;   x-method x-uri x-protocol x-source x-config
;;                      get_method, get_uri, get_protocol_version,
;;                      get_source_addr, get_config
;;   x-log-enabled      log_enabled(info); it also logs "conformance: request"
;;   x-names-lower      1 if get_header_names(request) is all lowercase
;;   x-in               values of request header x-conf-in, joined by ","
;;   x-req-trailers     count of get_header_names(request trailers)
;;   x-status-before    get_status_code before set_status_code(299)
;;   x-status-after     get_status_code after it
;;   x-req-body         the request body (read_body to EOF, at most 16 KiB)
;;   x-early: 1, 2      set_header_value then add_header_value
;;   x-early-gone       set, then removed (remove_header): absent
;;   body "early;"      write_body(response) before next
;;   the request: set_method PATCH, set_uri /conformed?x=1, x-conf-set: 1
;;   (set_header_value), x-conf-in: + "added" (add_header_value), x-conf-drop
;;   removed, body replaced by "new request body" (write_body(request)).
;;   Returns 7<<32 | 1.
;;
;; handle_response(reqCtx, is_error): traps unless reqCtx is 7; with is_error
;; it only sets x-is-error: 1. Otherwise, response headers:
;;   x-resp-features    enable_features(0): the request's features
;;   x-upstream-status  get_status_code, then set_status_code(203)
;;   x-resp-method x-resp-uri x-resp-protocol x-resp-source x-resp-config
;;                      the same getters after next (the changed request)
;;   x-resp-log-enabled log_enabled(info); it logs "conformance: response"
;;   x-resp-names-lower 1 if get_header_names(response) is all lowercase
;;   x-resp-req-set     request header x-conf-set as the upstream got it
;;   x-resp-up          the upstream's x-up values, joined by ","
;;   x-resp-trailers    trailer names (kinds 2 and 3) plus values of x-t
;;   x-resp-set: 1, 2   set_header_value then add_header_value
;;   x-up-drop          removed from the upstream's answer
;;   body               "resp:" + the body so far (read_body(response): the
;;                      early body and the upstream's), two write_body calls
;;
;; Request header x-conf-trap selects a call the spec forbids, by its first
;; byte: T sets a request trailer in handle_request, R a response trailer in
;; handle_response (trailers are unsupported), M calls set_method in
;; handle_response (after next). Each must trap.
;;
;; Build: wat2wasm conformance.wat -o conformance.wasm (examples/build-guests.sh)
(module $conformance
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param $code i32)))
  (import "http_handler" "enable_features" (func $enable_features (param $features i32) (result i32)))
  (import "http_handler" "get_config" (func $get_config (param $buf i32) (param $buf_limit i32) (result i32)))
  (import "http_handler" "log_enabled" (func $log_enabled (param $level i32) (result i32)))
  (import "http_handler" "log" (func $log (param $level i32) (param $message i32) (param $message_len i32)))
  (import "http_handler" "get_method" (func $get_method (param $buf i32) (param $buf_limit i32) (result i32)))
  (import "http_handler" "set_method" (func $set_method (param $method i32) (param $method_len i32)))
  (import "http_handler" "get_uri" (func $get_uri (param $buf i32) (param $buf_limit i32) (result i32)))
  (import "http_handler" "set_uri" (func $set_uri (param $uri i32) (param $uri_len i32)))
  (import "http_handler" "get_protocol_version" (func $get_protocol_version (param $buf i32) (param $buf_limit i32) (result i32)))
  (import "http_handler" "get_header_names" (func $get_header_names (param $kind i32) (param $buf i32) (param $buf_limit i32) (result (; count << 32 | len ;) i64)))
  (import "http_handler" "get_header_values" (func $get_header_values (param $kind i32) (param $name i32) (param $name_len i32) (param $buf i32) (param $buf_limit i32) (result (; count << 32 | len ;) i64)))
  (import "http_handler" "set_header_value" (func $set_header_value (param $kind i32) (param $name i32) (param $name_len i32) (param $value i32) (param $value_len i32)))
  (import "http_handler" "add_header_value" (func $add_header_value (param $kind i32) (param $name i32) (param $name_len i32) (param $value i32) (param $value_len i32)))
  (import "http_handler" "remove_header" (func $remove_header (param $kind i32) (param $name i32) (param $name_len i32)))
  (import "http_handler" "read_body" (func $read_body (param $kind i32) (param $buf i32) (param $buf_limit i32) (result (; eof << 32 | len ;) i64)))
  (import "http_handler" "write_body" (func $write_body (param $kind i32) (param $body i32) (param $body_len i32)))
  (import "http_handler" "get_status_code" (func $get_status_code (result i32)))
  (import "http_handler" "set_status_code" (func $set_status_code (param $status_code i32)))
  (import "http_handler" "get_source_addr" (func $get_source_addr (param $buf i32) (param $buf_limit i32) (result i32)))

  ;; Memory layout: [256, 272) itoa scratch; [512, 528) itoa output;
  ;; [1024, 2048) getter scratch; [2048, 3072) the config _start read;
  ;; [4096, 8192) NUL-terminated string constants, 64-byte slots;
  ;; [16384, 32768) header names; [32768, 49152) header values;
  ;; [49152, 65536) a body.
  (memory (export "memory") 1 1)

  ;; $start_cfg_len is the length of the config _start read, -1 until it ran.
  (global $start_cfg_len (mut i32) (i32.const -1))
  ;; $trap is the first byte of the request's x-conf-trap, 0 without one.
  (global $trap (mut i32) (i32.const 0))

  (global $s_x_start i32 (i32.const 4096)) (data (i32.const 4096) "x-start")
  (global $s_x_method i32 (i32.const 4160)) (data (i32.const 4160) "x-method")
  (global $s_x_uri i32 (i32.const 4224)) (data (i32.const 4224) "x-uri")
  (global $s_x_protocol i32 (i32.const 4288)) (data (i32.const 4288) "x-protocol")
  (global $s_x_source i32 (i32.const 4352)) (data (i32.const 4352) "x-source")
  (global $s_x_config i32 (i32.const 4416)) (data (i32.const 4416) "x-config")
  (global $s_x_log_enabled i32 (i32.const 4480)) (data (i32.const 4480) "x-log-enabled")
  (global $s_x_features_none i32 (i32.const 4544)) (data (i32.const 4544) "x-features-none")
  (global $s_x_features i32 (i32.const 4608)) (data (i32.const 4608) "x-features")
  (global $s_x_names_lower i32 (i32.const 4672)) (data (i32.const 4672) "x-names-lower")
  (global $s_x_conf_in i32 (i32.const 4736)) (data (i32.const 4736) "x-conf-in")
  (global $s_x_in i32 (i32.const 4800)) (data (i32.const 4800) "x-in")
  (global $s_x_req_trailers i32 (i32.const 4864)) (data (i32.const 4864) "x-req-trailers")
  (global $s_x_status_before i32 (i32.const 4928)) (data (i32.const 4928) "x-status-before")
  (global $s_x_status_after i32 (i32.const 4992)) (data (i32.const 4992) "x-status-after")
  (global $s_x_req_body i32 (i32.const 5056)) (data (i32.const 5056) "x-req-body")
  (global $s_x_early i32 (i32.const 5120)) (data (i32.const 5120) "x-early")
  (global $s_x_early_gone i32 (i32.const 5184)) (data (i32.const 5184) "x-early-gone")
  (global $s_early_body i32 (i32.const 5248)) (data (i32.const 5248) "early;")
  (global $s_patch i32 (i32.const 5312)) (data (i32.const 5312) "PATCH")
  (global $s_new_uri i32 (i32.const 5376)) (data (i32.const 5376) "/conformed?x=1")
  (global $s_x_conf_set i32 (i32.const 5440)) (data (i32.const 5440) "x-conf-set")
  (global $s_added i32 (i32.const 5504)) (data (i32.const 5504) "added")
  (global $s_x_conf_drop i32 (i32.const 5568)) (data (i32.const 5568) "x-conf-drop")
  (global $s_new_req_body i32 (i32.const 5632)) (data (i32.const 5632) "new request body")
  (global $s_msg_req i32 (i32.const 5696)) (data (i32.const 5696) "conformance: request")
  (global $s_msg_resp i32 (i32.const 5760)) (data (i32.const 5760) "conformance: response")
  (global $s_x_conf_trap i32 (i32.const 5824)) (data (i32.const 5824) "x-conf-trap")
  (global $s_x_t i32 (i32.const 5888)) (data (i32.const 5888) "x-t")
  (global $s_get i32 (i32.const 5952)) (data (i32.const 5952) "GET")
  (global $s_x_is_error i32 (i32.const 6016)) (data (i32.const 6016) "x-is-error")
  (global $s_x_resp_features i32 (i32.const 6080)) (data (i32.const 6080) "x-resp-features")
  (global $s_x_upstream_status i32 (i32.const 6144)) (data (i32.const 6144) "x-upstream-status")
  (global $s_x_resp_method i32 (i32.const 6208)) (data (i32.const 6208) "x-resp-method")
  (global $s_x_resp_uri i32 (i32.const 6272)) (data (i32.const 6272) "x-resp-uri")
  (global $s_x_resp_protocol i32 (i32.const 6336)) (data (i32.const 6336) "x-resp-protocol")
  (global $s_x_resp_source i32 (i32.const 6400)) (data (i32.const 6400) "x-resp-source")
  (global $s_x_resp_config i32 (i32.const 6464)) (data (i32.const 6464) "x-resp-config")
  (global $s_x_resp_log_enabled i32 (i32.const 6528)) (data (i32.const 6528) "x-resp-log-enabled")
  (global $s_x_resp_names_lower i32 (i32.const 6592)) (data (i32.const 6592) "x-resp-names-lower")
  (global $s_x_resp_req_set i32 (i32.const 6656)) (data (i32.const 6656) "x-resp-req-set")
  (global $s_x_up i32 (i32.const 6720)) (data (i32.const 6720) "x-up")
  (global $s_x_resp_up i32 (i32.const 6784)) (data (i32.const 6784) "x-resp-up")
  (global $s_x_resp_trailers i32 (i32.const 6848)) (data (i32.const 6848) "x-resp-trailers")
  (global $s_x_resp_set i32 (i32.const 6912)) (data (i32.const 6912) "x-resp-set")
  (global $s_x_up_drop i32 (i32.const 6976)) (data (i32.const 6976) "x-up-drop")
  (global $s_x_resp_req_body i32 (i32.const 7040)) (data (i32.const 7040) "x-resp-req-body")
  (global $s_resp_prefix i32 (i32.const 7104)) (data (i32.const 7104) "resp:")
  (global $s_one i32 (i32.const 7168)) (data (i32.const 7168) "1")
  (global $s_two i32 (i32.const 7232)) (data (i32.const 7232) "2")

  ;; $strlen returns the length of the NUL-terminated string at $p.
  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $each
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $each)))
    (local.get $n))

  ;; $set sets response header $name (a constant) to [$v, $v+$len).
  (func $set (param $name i32) (param $v i32) (param $len i32)
    (call $set_header_value (i32.const 1) (local.get $name) (call $strlen (local.get $name))
      (local.get $v) (local.get $len)))

  ;; $set_fit sets response header $name to the $len bytes a getter wrote at
  ;; 1024, or traps when they did not fit the 1024-byte scratch.
  (func $set_fit (param $name i32) (param $len i32)
    (if (i32.gt_u (local.get $len) (i32.const 1024)) (then (unreachable)))
    (call $set (local.get $name) (i32.const 1024) (local.get $len)))

  ;; $set_num sets response header $name to the decimal $v.
  (func $set_num (param $name i32) (param $v i32)
    (call $set (local.get $name) (i32.const 512) (call $itoa (local.get $v) (i32.const 512))))

  ;; $set_list sets response header $name to the NUL-terminated list at
  ;; $buf described by $cl (count_len), comma-joined; nothing when empty. It
  ;; traps when the list did not fit 16 KiB.
  (func $set_list (param $name i32) (param $buf i32) (param $cl i64)
    (local $len i32) (local $i i32)
    (local.set $len (i32.wrap_i64 (local.get $cl)))
    (if (i32.gt_u (local.get $len) (i32.const 16384)) (then (unreachable)))
    (if (i32.eqz (local.get $len)) (then (return)))
    (loop $each
      (if (i32.eqz (i32.load8_u (i32.add (local.get $buf) (local.get $i))))
        (then (i32.store8 (i32.add (local.get $buf) (local.get $i)) (i32.const 44))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $i) (local.get $len))))
    (call $set (local.get $name) (local.get $buf) (i32.sub (local.get $len) (i32.const 1))))

  ;; $names_lower returns 1 when every header name of $kind is lowercase.
  (func $names_lower (param $kind i32) (result i32)
    (local $len i32) (local $i i32) (local $c i32)
    (local.set $len (i32.wrap_i64 (call $get_header_names (local.get $kind) (i32.const 16384) (i32.const 16384))))
    (if (i32.gt_u (local.get $len) (i32.const 16384)) (then (unreachable)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $c (i32.load8_u (i32.add (i32.const 16384) (local.get $i))))
        (if (i32.and (i32.ge_u (local.get $c) (i32.const 65)) (i32.le_u (local.get $c) (i32.const 90)))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    (i32.const 1))

  ;; $read_all reads the body of $kind to EOF (at most 16 KiB) into 49152
  ;; and returns its length.
  (func $read_all (param $kind i32) (result i32)
    (local $n i32) (local $r i64)
    (block $done
      (loop $read
        (br_if $done (i32.ge_u (local.get $n) (i32.const 16384)))
        (local.set $r (call $read_body (local.get $kind)
          (i32.add (i32.const 49152) (local.get $n)) (i32.sub (i32.const 16384) (local.get $n))))
        (local.set $n (i32.add (local.get $n) (i32.wrap_i64 (local.get $r))))
        (br_if $done (i64.ne (i64.shr_u (local.get $r) (i64.const 32)) (i64.const 0)))
        (br $read)))
    (local.get $n))

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

  ;; _start is the command's main: it keeps the config for later requests and
  ;; exits with 0.
  (func (export "_start")
    (local $n i32)
    (local.set $n (call $get_config (i32.const 2048) (i32.const 1024)))
    (if (i32.le_u (local.get $n) (i32.const 1024))
      (then (global.set $start_cfg_len (local.get $n))))
    (call $proc_exit (i32.const 0)))

  (func (export "handle_request") (result i64)
    (local $cl i64) (local $n i32)
    ;; Which forbidden call, if any, this request asks for.
    (global.set $trap (i32.const 0))
    (local.set $cl (call $get_header_values (i32.const 0)
      (global.get $s_x_conf_trap) (call $strlen (global.get $s_x_conf_trap)) (i32.const 1024) (i32.const 1024)))
    (if (i32.and (i64.ne (local.get $cl) (i64.const 0))
          (i32.le_u (i32.wrap_i64 (local.get $cl)) (i32.const 1024)))
      (then (global.set $trap (i32.load8_u (i32.const 1024)))))
    (if (i32.eq (global.get $trap) (i32.const 84)) ;; T
      (then (call $set_header_value (i32.const 2) (global.get $s_x_t) (i32.const 3) (global.get $s_one) (i32.const 1))))

    (if (i32.ge_s (global.get $start_cfg_len) (i32.const 0))
      (then (call $set (global.get $s_x_start) (i32.const 2048) (global.get $start_cfg_len))))
    (call $set_num (global.get $s_x_features_none) (call $enable_features (i32.const 0)))
    (call $set_num (global.get $s_x_features) (call $enable_features (i32.const 3)))

    (call $set_fit (global.get $s_x_method) (call $get_method (i32.const 1024) (i32.const 1024)))
    (call $set_fit (global.get $s_x_uri) (call $get_uri (i32.const 1024) (i32.const 1024)))
    (call $set_fit (global.get $s_x_protocol) (call $get_protocol_version (i32.const 1024) (i32.const 1024)))
    (call $set_fit (global.get $s_x_source) (call $get_source_addr (i32.const 1024) (i32.const 1024)))
    (call $set_fit (global.get $s_x_config) (call $get_config (i32.const 1024) (i32.const 1024)))
    (call $set_num (global.get $s_x_log_enabled) (call $log_enabled (i32.const 0)))
    (call $log (i32.const 0) (global.get $s_msg_req) (call $strlen (global.get $s_msg_req)))

    (call $set_num (global.get $s_x_names_lower) (call $names_lower (i32.const 0)))
    (call $set_list (global.get $s_x_in) (i32.const 32768)
      (call $get_header_values (i32.const 0) (global.get $s_x_conf_in) (call $strlen (global.get $s_x_conf_in))
        (i32.const 32768) (i32.const 16384)))
    (call $set_num (global.get $s_x_req_trailers) (i32.wrap_i64 (i64.shr_u
      (call $get_header_names (i32.const 2) (i32.const 16384) (i32.const 16384)) (i64.const 32))))

    (call $set_num (global.get $s_x_status_before) (call $get_status_code))
    (call $set_status_code (i32.const 299))
    (call $set_num (global.get $s_x_status_after) (call $get_status_code))

    (local.set $n (call $read_all (i32.const 0)))
    (call $set (global.get $s_x_req_body) (i32.const 49152) (local.get $n))

    ;; Early response fields: they must survive next.
    (call $set_header_value (i32.const 1) (global.get $s_x_early) (call $strlen (global.get $s_x_early)) (global.get $s_one) (i32.const 1))
    (call $add_header_value (i32.const 1) (global.get $s_x_early) (call $strlen (global.get $s_x_early)) (global.get $s_two) (i32.const 1))
    (call $set_header_value (i32.const 1) (global.get $s_x_early_gone) (call $strlen (global.get $s_x_early_gone)) (global.get $s_one) (i32.const 1))
    (call $remove_header (i32.const 1) (global.get $s_x_early_gone) (call $strlen (global.get $s_x_early_gone)))
    (call $write_body (i32.const 1) (global.get $s_early_body) (call $strlen (global.get $s_early_body)))

    ;; The request the upstream gets.
    (call $set_method (global.get $s_patch) (call $strlen (global.get $s_patch)))
    (call $set_uri (global.get $s_new_uri) (call $strlen (global.get $s_new_uri)))
    (call $set_header_value (i32.const 0) (global.get $s_x_conf_set) (call $strlen (global.get $s_x_conf_set)) (global.get $s_one) (i32.const 1))
    (call $add_header_value (i32.const 0) (global.get $s_x_conf_in) (call $strlen (global.get $s_x_conf_in)) (global.get $s_added) (call $strlen (global.get $s_added)))
    (call $remove_header (i32.const 0) (global.get $s_x_conf_drop) (call $strlen (global.get $s_x_conf_drop)))
    (call $write_body (i32.const 0) (global.get $s_new_req_body) (call $strlen (global.get $s_new_req_body)))
    (i64.or (i64.shl (i64.const 7) (i64.const 32)) (i64.const 1)))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)
    (local $n i32)
    (if (i32.ne (local.get $reqCtx) (i32.const 7)) (then (unreachable)))
    (if (local.get $is_error)
      (then
        (call $set (global.get $s_x_is_error) (global.get $s_one) (i32.const 1))
        (return)))
    (if (i32.eq (global.get $trap) (i32.const 82)) ;; R
      (then (call $set_header_value (i32.const 3) (global.get $s_x_t) (i32.const 3) (global.get $s_one) (i32.const 1))))
    (if (i32.eq (global.get $trap) (i32.const 77)) ;; M
      (then (call $set_method (global.get $s_get) (i32.const 3))))

    (call $set_num (global.get $s_x_resp_features) (call $enable_features (i32.const 0)))
    (call $set_num (global.get $s_x_upstream_status) (call $get_status_code))
    (call $set_status_code (i32.const 203))

    (call $set_fit (global.get $s_x_resp_method) (call $get_method (i32.const 1024) (i32.const 1024)))
    (call $set_fit (global.get $s_x_resp_uri) (call $get_uri (i32.const 1024) (i32.const 1024)))
    (call $set_fit (global.get $s_x_resp_protocol) (call $get_protocol_version (i32.const 1024) (i32.const 1024)))
    (call $set_fit (global.get $s_x_resp_source) (call $get_source_addr (i32.const 1024) (i32.const 1024)))
    (call $set_fit (global.get $s_x_resp_config) (call $get_config (i32.const 1024) (i32.const 1024)))
    (call $set_num (global.get $s_x_resp_log_enabled) (call $log_enabled (i32.const 0)))
    (call $log (i32.const 0) (global.get $s_msg_resp) (call $strlen (global.get $s_msg_resp)))

    (call $set_num (global.get $s_x_resp_names_lower) (call $names_lower (i32.const 1)))
    (call $set_list (global.get $s_x_resp_req_set) (i32.const 32768)
      (call $get_header_values (i32.const 0) (global.get $s_x_conf_set) (call $strlen (global.get $s_x_conf_set))
        (i32.const 32768) (i32.const 16384)))
    (call $set_list (global.get $s_x_resp_up) (i32.const 32768)
      (call $get_header_values (i32.const 1) (global.get $s_x_up) (call $strlen (global.get $s_x_up))
        (i32.const 32768) (i32.const 16384)))
    (call $set_num (global.get $s_x_resp_trailers) (i32.wrap_i64 (i64.shr_u (i64.add (i64.add
      (call $get_header_names (i32.const 2) (i32.const 16384) (i32.const 16384))
      (call $get_header_names (i32.const 3) (i32.const 16384) (i32.const 16384)))
      (call $get_header_values (i32.const 3) (global.get $s_x_t) (i32.const 3) (i32.const 32768) (i32.const 16384)))
      (i64.const 32))))

    (call $set_header_value (i32.const 1) (global.get $s_x_resp_set) (call $strlen (global.get $s_x_resp_set)) (global.get $s_one) (i32.const 1))
    (call $add_header_value (i32.const 1) (global.get $s_x_resp_set) (call $strlen (global.get $s_x_resp_set)) (global.get $s_two) (i32.const 1))
    (call $remove_header (i32.const 1) (global.get $s_x_up_drop) (call $strlen (global.get $s_x_up_drop)))

    (local.set $n (call $read_all (i32.const 1)))
    (call $write_body (i32.const 1) (global.get $s_resp_prefix) (call $strlen (global.get $s_resp_prefix)))
    (call $write_body (i32.const 1) (i32.const 49152) (local.get $n)))
)
