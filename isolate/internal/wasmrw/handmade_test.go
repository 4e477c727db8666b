package wasmrw

import (
	"context"
	"slices"
	"testing"
)

// vec encodes a vector of already-encoded entries.
func vec(entries ...[]byte) []byte {
	b := appendU32(nil, uint32(len(entries)))
	for _, e := range entries {
		b = append(b, e...)
	}
	return b
}

// bodies encodes function bodies for a code section.
func bodies(bs ...[]byte) []byte {
	out := appendU32(nil, uint32(len(bs)))
	for _, b := range bs {
		out = appendU32(out, uint32(len(b)))
		out = append(out, b...)
	}
	return out
}

// ehModule is built by hand because wabt 1.0.32 predates try_table: it
// covers try_table with catch and catch_all_ref, throw, throw_ref, call_ref,
// ref.as_non_null and br_on_null. Functions: 0 thrower (loops, then throws
// its argument as tag 0), 1 eh, 2 eh2, 3 dbl, 4 cr.
func ehModule() []byte {
	types := appendSection(nil, secType, vec(
		[]byte{0x60, 1, 0x7f, 0},       // 0: (i32) -> ()
		[]byte{0x60, 1, 0x7f, 1, 0x7f}, // 1: (i32) -> i32
		[]byte{0x60, 1, 0x69, 1, 0x7f}, // 2: (exnref) -> i32
	))
	funcs := appendSection(nil, secFunction, vec([]byte{0}, []byte{1}, []byte{1}, []byte{1}, []byte{1}))
	tags := appendSection(nil, secTag, vec([]byte{0x00, 0x00}))
	exports := appendSection(nil, secExport, vec(
		append(appendName(nil, "eh"), 0x00, 1),
		append(appendName(nil, "eh2"), 0x00, 2),
		append(appendName(nil, "dbl"), 0x00, 3),
		append(appendName(nil, "cr"), 0x00, 4),
	))
	code := appendSection(nil, secCode, bodies(
		[]byte{0x00, 0x03, 0x40, 0x20, 0x00, 0x08, 0x00, 0x0b, 0x0b},
		[]byte{0x00,
			0x02, 0x7f, // block (result i32)
			0x1f, 0x7f, 0x01, 0x00, 0x00, 0x00, // try_table (result i32) (catch 0 0)
			0x20, 0x00, 0x10, 0x00, 0x41, 0x00, // local.get 0; call 0; i32.const 0
			0x0b, 0x0b, // end end
			0x41, 0xe8, 0x07, 0x6a, 0x0b}, // i32.const 1000; i32.add; end
		[]byte{0x00,
			0x02, 0x7f, // block $c (result i32)
			0x02, 0x69, // block $h (result exnref)
			0x1f, 0x40, 0x01, 0x03, 0x00, // try_table (catch_all_ref $h)
			0x20, 0x00, 0x10, 0x00, 0x0b, // local.get 0; call 0; end
			0x41, 0x00, 0x0c, 0x01, // i32.const 0; br $c
			0x0b,                               // end $h
			0x1f, 0x02, 0x01, 0x00, 0x00, 0x00, // try_table (type 2) (catch 0 $c)
			0x0a, 0x0b, // throw_ref; end
			0x0b,                          // end $c
			0x41, 0xd0, 0x0f, 0x6a, 0x0b}, // i32.const 2000; i32.add; end
		[]byte{0x00, 0x20, 0x00, 0x20, 0x00, 0x6a, 0x0b},
		[]byte{0x00,
			0x02, 0x40, 0xd2, 0x03, 0xd5, 0x00, 0x1a, 0x0b, // block; ref.func 3; br_on_null 0; drop; end
			0x20, 0x00, 0xd2, 0x03, 0xd4, 0x14, 0x01, 0x0b}, // local.get 0; ref.func 3; ref.as_non_null; call_ref 1
	))
	return module(types, funcs, tags, exports, code)
}

func TestExceptionsAndTypedRefs(t *testing.T) {
	ctx := context.Background()
	bin := ehModule()
	calls := []call{{"eh", []uint64{5}}, {"eh2", []uint64{7}}, {"cr", []uint64{21}}, {"dbl", []uint64{4}}}
	want := []uint64{1005, 2007, 42, 8}
	for _, fuel := range []int32{0, 1, 2, 100} {
		b := bin
		if fuel != 0 {
			res := mustRewrite(t, bin, fuelOptions(fuel))
			if res.Functions != 5 || res.Loops != 1 {
				t.Errorf("Functions, Loops = %d, %d, want 5, 1", res.Functions, res.Loops)
			}
			b = res.Binary
		}
		m := instantiate(t, newRuntimeFeatures(t, &yielder{budget: fuel}, allFeatures), b, "eh")
		for i, c := range calls {
			got, err := m.ExportedFunction(c.fn).Call(ctx, c.args...)
			if err != nil {
				t.Fatalf("fuel %d: %v: %v", fuel, c, err)
			}
			if !slices.Equal(got, []uint64{want[i]}) {
				t.Errorf("fuel %d: %v = %v, want %d", fuel, c, got, want[i])
			}
		}
	}
}
