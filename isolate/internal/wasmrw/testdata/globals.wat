;; Mutable globals for ExportMutableGlobals: $b is already exported, $c is
;; immutable, the import is not defined here.
(module
  (import "env" "gi" (global $gi (mut i32)))
  (global $a (mut i32) (i32.const 1))
  (global $b (export "b") (mut i64) (i64.const 2))
  (global $c i32 (i32.const 3))
  (global $d (mut f64) (f64.const 4.5))
  (func (export "get_a") (result i32) (global.get $a))
  (func (export "get_d") (result f64) (global.get $d))
  (func (export "bump") (global.set $a (i32.add (global.get $a) (i32.const 1)))))
