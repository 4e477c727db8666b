;; Imports for calls.wat and globals.wat.
(module
  (global (export "g_imported") i32 (i32.const 41))
  (global (export "gi") (mut i32) (i32.const 9))
  (func (export "add_host") (param i32 i32) (result i32)
    (i32.add (i32.const 1000) (i32.add (local.get 0) (local.get 1)))))
