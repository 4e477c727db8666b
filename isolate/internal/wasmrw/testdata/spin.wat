;; Runaway guests: an infinite loop and exponential recursion without loops.
(module
  (func (export "spin") (loop $l (br $l)))
  (func (export "spin_nested") (param i32) (result i32)
    (loop $outer
      (block $b
        (loop $inner
          (local.set 0 (i32.add (local.get 0) (i32.const 1)))
          (br_if $b (i32.eqz (i32.and (local.get 0) (i32.const 0xff))))
          (br $inner)))
      (br $outer))
    (local.get 0))
  (func $rec (export "rec") (param i32)
    (if (i32.gt_u (local.get 0) (i32.const 0))
      (then
        (call $rec (i32.sub (local.get 0) (i32.const 1)))
        (call $rec (i32.sub (local.get 0) (i32.const 1))))))
  (func $forever (export "forever") (call $forever))
  (func (export "count") (param i32) (result i32) (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get 0))))
    (local.get $i)))
