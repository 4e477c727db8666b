;; startexit.wat: a guest whose start section calls proc_exit. $code, read
;; from the first byte of the config, is the exit code ('0' exits with 0).
;; The call ends instantiation before the module exists, so the load must
;; fail whatever the code (docs/abi.md, "Guest exports").
;;
;; Build: wat2wasm startexit.wat -o startexit.wasm (examples/build-guests.sh)
(module $startexit
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "http_handler" "get_config" (func $get_config (param $buf i32) (param $buf_limit i32) (result i32)))

  (memory (export "memory") 1 1)

  (func $init
    (drop (call $get_config (i32.const 0) (i32.const 16)))
    (call $proc_exit (i32.sub (i32.load8_u (i32.const 0)) (i32.const 48))))
  (start $init)

  ;; handle_request answers itself with the default empty 200; it must never
  ;; run, since the load fails.
  (func (export "handle_request") (result i64) (i64.const 0))
  (func (export "handle_response") (param i32 i32)))
