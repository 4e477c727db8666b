;; memhog.wat: a guest that takes all the memory it can. handle_request calls
;; memory.grow(1) until it returns -1, then answers 200 with the body
;; "grown N pages" (N = pages added, decimal). The memory has no declared
;; maximum, so only the host's memory cap stops the growth.
;;
;; Expected: with a cap of C pages, the body is "grown C-1 pages" (the module
;; starts with 1 page) and the host stays healthy; a host that turns a failed
;; grow into a trap reports a memory-limit error instead. The instance must
;; not be reused either way.
;;
;; Build: wat2wasm memhog.wat -o memhog.wasm (examples/build-guests.sh)
(module $memhog
  (import "http_handler" "set_status_code" (func $set_status_code (param i32)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "grown ")
  (data (i32.const 32) " pages")

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
    (local $pages i32) (local $n i32)
    (block $full
      (loop $grow
        (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (local.set $pages (i32.add (local.get $pages) (i32.const 1)))
        (br $grow)))
    ;; "grown " is at [0, 6); the number goes at 6, " pages" after it.
    (local.set $n (call $itoa (local.get $pages) (i32.const 6)))
    (memory.copy (i32.add (i32.const 6) (local.get $n)) (i32.const 32) (i32.const 6))
    (call $set_status_code (i32.const 200))
    (call $write_body (i32.const 1) (i32.const 0)
      (i32.add (i32.const 12) (local.get $n)))
    (i64.const 0))

  (func (export "handle_response") (param $reqCtx i32) (param $is_error i32)))
