package wasmrw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero/api"
)

type call struct {
	fn   string
	args []uint64
}

func (c call) String() string { return fmt.Sprintf("%s%v", c.fn, c.args) }

// TestBehaviourPreserved checks that every export computes the same results
// after rewriting, with budgets from "yield at every site" upwards, and that
// the yield import is actually reached.
func TestBehaviourPreserved(t *testing.T) {
	cases := []struct {
		file  string
		calls []call
	}{
		{"calls.wasm", []call{
			{"started", nil},
			{"indirect", []uint64{0, 5, 3}}, {"indirect", []uint64{1, 5, 3}}, {"indirect", []uint64{2, 5, 3}},
			{"indirect", []uint64{3, 5, 3}}, {"indirect", []uint64{4, 5, 3}},
			{"via_global", []uint64{6, 7}}, {"via_ref_func", nil}, {"passive", []uint64{6, 7}},
			{"direct", []uint64{6, 7}}, {"fact", []uint64{20}}, {"sum_loop", []uint64{1000}},
			{"multi_loop", []uint64{0}}, {"tail", []uint64{41}}, {"mul", []uint64{6, 7}},
			{"host_add_reexport", []uint64{1, 2}}, {"counter_get", nil},
		}},
		{"features.wasm", []call{{"simd", nil}, {"bulk", nil}, {"numeric", nil}, {"atomics", nil}, {"tailcall", nil}}},
		{"spin.wasm", []call{{"rec", []uint64{10}}, {"count", []uint64{100000}}}},
	}
	ctx := context.Background()
	for _, tc := range cases {
		bin := readTestdata(t, tc.file)
		want := map[string][]uint64{}
		r := newRuntime(t, nil)
		orig := instantiate(t, r, bin, "orig")
		for _, c := range tc.calls {
			got, err := orig.ExportedFunction(c.fn).Call(ctx, c.args...)
			if err != nil {
				t.Fatalf("%s: original %v: %v", tc.file, c, err)
			}
			want[c.String()] = got
		}
		for _, fuel := range []int32{1, 3, 10000} {
			t.Run(fmt.Sprintf("%s/fuel=%d", tc.file, fuel), func(t *testing.T) {
				res := mustRewrite(t, bin, fuelOptions(fuel))
				y := &yielder{budget: fuel}
				r := newRuntime(t, y)
				m := instantiate(t, r, res.Binary, "rw")
				for _, c := range tc.calls {
					got, err := m.ExportedFunction(c.fn).Call(ctx, c.args...)
					if err != nil {
						t.Fatalf("%v: %v", c, err)
					}
					if !slices.Equal(got, want[c.String()]) {
						t.Errorf("%v = %v, want %v", c, got, want[c.String()])
					}
				}
				if fuel < 10000 && y.calls.Load() == 0 {
					t.Errorf("yield never called with fuel %d", fuel)
				}
			})
		}
	}
}

// TestCallsModuleShape checks the index bookkeeping of calls.wasm: function
// names (name section) and export targets line up after the shift.
func TestCallsModuleShape(t *testing.T) {
	ctx := context.Background()
	bin := readTestdata(t, "calls.wasm")
	res := mustRewrite(t, bin, fuelOptions(100))
	if res.YieldFuncIndex != 1 {
		t.Errorf("YieldFuncIndex = %d, want 1", res.YieldFuncIndex)
	}
	if res.FuelGlobalIndex != 5 { // 1 imported + 4 defined
		t.Errorf("FuelGlobalIndex = %d, want 5", res.FuelGlobalIndex)
	}
	if res.Functions != 16 || res.Loops != 2 {
		t.Errorf("Functions, Loops = %d, %d, want 16, 2", res.Functions, res.Loops)
	}
	r := newRuntime(t, &yielder{budget: 100})
	before, err := r.CompileModule(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	after, err := r.CompileModule(ctx, res.Binary)
	if err != nil {
		t.Fatal(err)
	}
	for name, def := range before.ExportedFunctions() {
		got := after.ExportedFunctions()[name]
		if got == nil {
			t.Errorf("export %q missing after rewrite", name)
			continue
		}
		if got.Name() != def.Name() {
			t.Errorf("export %q names function %q, want %q", name, got.Name(), def.Name())
		}
		if got.Index() != def.Index() && got.Index() != def.Index()+1 {
			t.Errorf("export %q index %d, want %d or +1", name, got.Index(), def.Index())
		}
	}
	imports := after.ImportedFunctions()
	if last := imports[len(imports)-1]; last.Index() != res.YieldFuncIndex {
		t.Errorf("yield import index = %d, want %d", last.Index(), res.YieldFuncIndex)
	} else if mod, name, _ := last.Import(); mod != "edged" || name != "yield" {
		t.Errorf("yield import = %s.%s, want edged.yield", mod, name)
	}
}

// TestRunawayStopped checks that loops and loop-free recursion reach the
// yield function, and that a host panic ends the call with an error that
// errors.Is recognises.
func TestRunawayStopped(t *testing.T) {
	cases := []struct {
		name string
		fn   string
		args []uint64
	}{
		{"infinite loop", "spin", nil},
		{"nested loops", "spin_nested", []uint64{1}},
		{"exponential recursion", "rec", []uint64{60}},
		{"counted loop", "count", []uint64{math.MaxUint32}},
	}
	const stopAfter = 5
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRewrite(t, readTestdata(t, "spin.wasm"), fuelOptions(1000))
			y := &yielder{budget: 1000, stopAfter: stopAfter}
			m := instantiate(t, newRuntime(t, y), res.Binary, "spin")
			_, err := m.ExportedFunction(tc.fn).Call(context.Background(), tc.args...)
			if !errors.Is(err, errStop) {
				t.Fatalf("%s%v error = %v, want %v", tc.fn, tc.args, err, errStop)
			}
			if got := y.calls.Load(); got != stopAfter {
				t.Errorf("yield calls = %d, want %d", got, stopAfter)
			}
		})
	}
}

// TestYieldInterval checks that the budget returned by the host is what the
// guest spends before the next yield.
func TestYieldInterval(t *testing.T) {
	const budget = 1000
	res := mustRewrite(t, readTestdata(t, "spin.wasm"), fuelOptions(budget))
	y := &yielder{budget: budget}
	m := instantiate(t, newRuntime(t, y), res.Binary, "spin")
	// count(n) passes 1 function entry and n loop headers.
	const n = 1_000_000
	if _, err := m.ExportedFunction("count").Call(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if got, want := y.calls.Load(), int64((n+1)/budget); got != want {
		t.Errorf("yield calls for count(%d) = %d, want %d", n, got, want)
	}
}

func TestFuelGlobalExport(t *testing.T) {
	ctx := context.Background()
	o := fuelOptions(50)
	o.FuelGlobalExport = "__edged_fuel"
	res := mustRewrite(t, readTestdata(t, "spin.wasm"), o)
	y := &yielder{budget: 50}
	m := instantiate(t, newRuntime(t, y), res.Binary, "spin")
	g, ok := m.ExportedGlobal("__edged_fuel").(api.MutableGlobal)
	if !ok {
		t.Fatal("fuel global not exported as mutable")
	}
	if got := api.DecodeI32(g.Get()); got != 50 {
		t.Errorf("fuel = %d, want 50", got)
	}
	if _, err := m.ExportedFunction("count").Call(ctx, 9); err != nil {
		t.Fatal(err)
	}
	if got := api.DecodeI32(g.Get()); got != 40 { // 1 entry + 9 loop headers
		t.Errorf("fuel after count(9) = %d, want 40", got)
	}
	g.Set(api.EncodeI32(1_000_000))
	if _, err := m.ExportedFunction("count").Call(ctx, 10000); err != nil {
		t.Fatal(err)
	}
	if got := y.calls.Load(); got != 0 {
		t.Errorf("yield calls after reset = %d, want 0", got)
	}
}

func TestMemoryCap(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		file    string
		cap     uint32
		wantMax uint32
		grows   []uint32 // memory.grow arguments, in order
		want    []int32  // their results
	}{
		{"no max gets cap", "memory.wasm", 4, 4, []uint32{2, 1, 0}, []int32{2, -1, 4}},
		{"declared max below cap kept", "memory_max.wasm", 10, 3, []uint32{2, 1}, []int32{1, -1}},
		{"declared max above cap lowered", "memory_max.wasm", 2, 2, []uint32{1, 1}, []int32{1, -1}},
		{"min equal to cap", "memory.wasm", 2, 2, []uint32{1}, []int32{-1}},
		{"cap above 4 GiB clamped", "memory.wasm", math.MaxUint32, 65536, []uint32{0}, []int32{2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRewrite(t, readTestdata(t, tc.file), Options{MaxMemoryPages: tc.cap})
			r := newRuntime(t, nil)
			cm, err := r.CompileModule(ctx, res.Binary)
			if err != nil {
				t.Fatal(err)
			}
			if max, ok := cm.ExportedMemories()["mem"].Max(); !ok || max != tc.wantMax {
				t.Errorf("memory max = %d, %v, want %d, true", max, ok, tc.wantMax)
			}
			m := instantiate(t, r, res.Binary, "m")
			for i, n := range tc.grows {
				got, err := m.ExportedFunction("grow").Call(ctx, uint64(n))
				if err != nil {
					t.Fatal(err)
				}
				if int32(got[0]) != tc.want[i] {
					t.Errorf("grow(%d) = %d, want %d", n, int32(got[0]), tc.want[i])
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	valid := readTestdata(t, "spin.wasm")
	cases := []struct {
		name string
		wasm []byte
		o    Options
		want error
	}{
		{"empty", nil, Options{}, ErrMalformed},
		{"bad magic", []byte("\x00asx\x01\x00\x00\x00"), Options{}, ErrMalformed},
		{"component version", []byte("\x00asm\x0d\x00\x01\x00"), Options{}, ErrUnsupported},
		{"truncated section", append(slices.Clone(valid[:8]), 1, 10, 0), Options{}, ErrMalformed},
		{"section size overflow", append(slices.Clone(valid[:8]), 1, 0xff, 0xff, 0xff, 0xff, 0x7f), Options{}, ErrMalformed},
		{"unknown section", append(slices.Clone(valid[:8]), 14, 0), Options{}, ErrMalformed},
		{"sections out of order", append(slices.Clone(valid[:8]), 3, 1, 0, 1, 1, 0), Options{}, ErrMalformed},
		{"duplicate section", append(slices.Clone(valid[:8]), 1, 1, 0, 1, 1, 0), Options{}, ErrMalformed},
		{"min above cap", readTestdata(t, "memory_big.wasm"), Options{MaxMemoryPages: 99}, ErrMemoryTooLarge},
		{"imported memory", readTestdata(t, "memory_import.wasm"), Options{MaxMemoryPages: 10}, ErrUnsupported},
		{"negative fuel", valid, Options{YieldModule: "e", YieldName: "y", InitialFuel: -1}, ErrOptions},
		{"export without yield", valid, Options{FuelGlobalExport: "f"}, ErrOptions},
		{"export name taken", readTestdata(t, "calls.wasm"), Options{YieldModule: "e", YieldName: "y", FuelGlobalExport: "mul"}, ErrOptions},
		{"unknown opcode", module(codeSec(body(0x00, 0x1d, 0x0b))), fuelOptions(1), ErrUnsupported},
		{"unknown 0xfc opcode", module(codeSec(body(0x00, 0xfc, 0x12, 0x0b))), fuelOptions(1), ErrUnsupported},
		{"unassigned simd opcode", module(codeSec(body(0x00, 0xfd, 0x9a, 0x01, 0x0b))), fuelOptions(1), ErrUnsupported},
		{"unknown atomic opcode", module(codeSec(body(0x00, 0xfe, 0x04, 0x0b))), fuelOptions(1), ErrUnsupported},
		{"i32.const too long", module(codeSec(body(0x00, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b))), fuelOptions(1), ErrMalformed},
		{"i32.const bad sign bits", module(codeSec(body(0x00, 0x41, 0xff, 0xff, 0xff, 0xff, 0x4f, 0x0b))), fuelOptions(1), ErrMalformed},
		{"call index overflow", module(codeSec(body(0x00, 0x10, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x0b))), fuelOptions(1), ErrMalformed},
		{"truncated body", module(codeSec(body(0x00, 0x44, 0x00))), fuelOptions(1), ErrMalformed},
		{"body without end", module(codeSec(body(0x00, 0x01))), fuelOptions(1), ErrMalformed},
		{"huge locals count", module(codeSec(body(0xff, 0xff, 0xff, 0xff, 0x0f, 0x0b))), fuelOptions(1), ErrMalformed},
		{"bad value type", module(codeSec(body(0x01, 0x01, 0x55, 0x0b))), fuelOptions(1), ErrUnsupported},
		{"bad block type index", module(codeSec(body(0x00, 0x02, 0xff, 0x7f, 0x0b, 0x0b))), fuelOptions(1), ErrMalformed},
		{"bad catch clause", module(codeSec(body(0x00, 0x1f, 0x40, 0x01, 0x07, 0x00, 0x0b, 0x0b))), fuelOptions(1), ErrMalformed},
		{"GC type", module([]byte{secType, 2, 1, 0x5f}), fuelOptions(1), ErrUnsupported},
		{"bad element flags", module([]byte{secElement, 2, 1, 8}), fuelOptions(1), ErrMalformed},
		{"two memories", module([]byte{secMemory, 5, 2, 0, 1, 0, 1}), Options{MaxMemoryPages: 5}, ErrUnsupported},
		{"memory64", module([]byte{secMemory, 3, 1, 4, 1}), Options{MaxMemoryPages: 5}, ErrUnsupported},
		{"trailing bytes in start", module([]byte{secStart, 2, 0, 0}), fuelOptions(1), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Rewrite(tc.wasm, tc.o)
			if !errors.Is(err, tc.want) {
				t.Errorf("Rewrite(%x) error = %v, want %v", tc.wasm, err, tc.want)
			}
		})
	}
}

// module assembles a module from raw section bytes.
func module(sections ...[]byte) []byte {
	b := slices.Clone(header)
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

// codeSec wraps function bodies in a code section.
func codeSec(bodies ...[]byte) []byte {
	payload := appendU32(nil, uint32(len(bodies)))
	for _, b := range bodies {
		payload = appendU32(payload, uint32(len(b)))
		payload = append(payload, b...)
	}
	return appendSection(nil, secCode, payload)
}

func body(b ...byte) []byte { return b }

func TestNoOptionsIsIdentity(t *testing.T) {
	for _, f := range []string{"calls.wasm", "features.wasm", "spin.wasm", "globals.wasm"} {
		t.Run(f, func(t *testing.T) {
			bin := readTestdata(t, f)
			res := mustRewrite(t, bin, Options{})
			if !slices.Equal(res.Binary, bin) {
				t.Errorf("Rewrite(%s, Options{}) changed the module", f)
			}
		})
	}
}

func TestExportMutableGlobals(t *testing.T) {
	ctx := context.Background()
	for _, fuel := range []bool{false, true} {
		t.Run(fmt.Sprintf("fuel=%v", fuel), func(t *testing.T) {
			o := Options{ExportMutableGlobals: true}
			if fuel {
				o = fuelOptions(100)
				o.ExportMutableGlobals = true
			}
			res := mustRewrite(t, readTestdata(t, "globals.wasm"), o)
			m := instantiate(t, newRuntime(t, &yielder{budget: 100}), res.Binary, "g")
			// Index 0 is the import, 1 $a, 2 $b (already exported as "b"), 3 $c
			// (immutable), 4 $d.
			for _, name := range []string{GlobalExportPrefix + "0", GlobalExportPrefix + "2", GlobalExportPrefix + "3", GlobalExportPrefix + "5"} {
				if m.ExportedGlobal(name) != nil {
					t.Errorf("ExportedGlobal(%q) exists, want none", name)
				}
			}
			a, ok := m.ExportedGlobal(GlobalExportPrefix + "1").(api.MutableGlobal)
			if !ok {
				t.Fatalf("ExportedGlobal(%q) is not a mutable global", GlobalExportPrefix+"1")
			}
			d, ok := m.ExportedGlobal(GlobalExportPrefix + "4").(api.MutableGlobal)
			if !ok {
				t.Fatalf("ExportedGlobal(%q) is not a mutable global", GlobalExportPrefix+"4")
			}
			if _, err := m.ExportedFunction("bump").Call(ctx); err != nil {
				t.Fatal(err)
			}
			if got := api.DecodeI32(a.Get()); got != 2 {
				t.Errorf("a = %d after bump, want 2", got)
			}
			a.Set(api.EncodeI32(40))
			d.Set(api.EncodeF64(-1.25))
			if got, _ := m.ExportedFunction("get_a").Call(ctx); api.DecodeI32(got[0]) != 40 {
				t.Errorf("get_a() = %d, want 40", api.DecodeI32(got[0]))
			}
			if got, _ := m.ExportedFunction("get_d").Call(ctx); api.DecodeF64(got[0]) != -1.25 {
				t.Errorf("get_d() = %v, want -1.25", api.DecodeF64(got[0]))
			}
		})
	}
}

func TestLEB(t *testing.T) {
	cases := []struct {
		name   string
		in     []byte
		bits   uint
		signed bool
		want   int64
		ok     bool
	}{
		{"u32 zero", []byte{0}, 32, false, 0, true},
		{"u32 max", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 32, false, math.MaxUint32, true},
		{"u32 padded", []byte{0x80, 0x80, 0x00}, 32, false, 0, true},
		{"u32 too big", []byte{0xff, 0xff, 0xff, 0xff, 0x1f}, 32, false, 0, false},
		{"u32 too long", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 32, false, 0, false},
		{"u32 truncated", []byte{0x80}, 32, false, 0, false},
		{"s32 -1", []byte{0x7f}, 32, true, -1, true},
		{"s32 min", []byte{0x80, 0x80, 0x80, 0x80, 0x78}, 32, true, math.MinInt32, true},
		{"s32 max", []byte{0xff, 0xff, 0xff, 0xff, 0x07}, 32, true, math.MaxInt32, true},
		{"s32 bad sign extension", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 32, true, 0, false},
		{"s33 min", []byte{0x80, 0x80, 0x80, 0x80, 0x70}, 33, true, -1 << 32, true},
		{"s64 min", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f}, 64, true, math.MinInt64, true},
		{"s64 bad", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 64, true, 0, false},
		{"u64 max", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 64, false, -1, true},
		{"u64 too big", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03}, 64, false, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &reader{buf: tc.in}
			var got int64
			if tc.signed {
				got = r.sleb(tc.bits)
			} else {
				got = int64(r.uleb(tc.bits))
			}
			if (r.err == nil) != tc.ok || (tc.ok && got != tc.want) {
				t.Errorf("leb(%x, %d bits) = %d, %v, want %d, ok=%v", tc.in, tc.bits, got, r.err, tc.want, tc.ok)
			}
		})
	}
	for _, v := range []int64{0, 1, -1, 63, 64, -64, -65, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64} {
		r := &reader{buf: appendS64(nil, v)}
		if got := r.sleb(64); got != v || r.err != nil {
			t.Errorf("sleb(appendS64(%d)) = %d, %v", v, got, r.err)
		}
	}
	for _, v := range []uint32{0, 1, 127, 128, math.MaxUint32} {
		r := &reader{buf: appendU32(nil, v)}
		if got := r.u32(); got != v || r.err != nil {
			t.Errorf("u32(appendU32(%d)) = %d, %v", v, got, r.err)
		}
	}
}

func TestNameSection(t *testing.T) {
	// One imported and two defined functions, named 0 "imp", 1 "a", 2 "b";
	// local names for function 2.
	types := appendSection(nil, secType, vec([]byte{0x60, 0, 0}))
	imports := appendSection(nil, secImport, vec(append(append(appendName(nil, "m"), appendName(nil, "f")...), 0x00, 0)))
	funcs := appendSection(nil, secFunction, vec([]byte{0}, []byte{0}))
	code := codeSec(body(0x00, 0x10, 0x02, 0x0b), body(0x00, 0x0b))
	fnames := vec(append([]byte{0}, appendName(nil, "imp")...), append([]byte{1}, appendName(nil, "a")...),
		append([]byte{2}, appendName(nil, "b")...))
	lnames := vec(append([]byte{2}, vec(append([]byte{0}, appendName(nil, "x")...))...))
	payload := appendName(nil, "name")
	payload = append(appendU32(append(payload, 1), uint32(len(fnames))), fnames...)
	payload = append(appendU32(append(payload, 2), uint32(len(lnames))), lnames...)
	names := appendSection(nil, secCustom, payload)
	bin := module(types, imports, funcs, code, names)

	res := mustRewrite(t, bin, fuelOptions(10))
	wantF := vec(append([]byte{0}, appendName(nil, "imp")...), append([]byte{2}, appendName(nil, "a")...),
		append([]byte{3}, appendName(nil, "b")...))
	wantL := vec(append([]byte{3}, vec(append([]byte{0}, appendName(nil, "x")...))...))
	want := appendName(nil, "name")
	want = append(appendU32(append(want, 1), uint32(len(wantF))), wantF...)
	want = append(appendU32(append(want, 2), uint32(len(wantL))), wantL...)
	if !bytes.HasSuffix(res.Binary, appendSection(nil, secCustom, want)) {
		t.Errorf("Rewrite name section = %x, want suffix %x", res.Binary, appendSection(nil, secCustom, want))
	}
	// The call in function 1 must now target function 3.
	if !bytes.Contains(res.Binary, []byte{0x10, 0x03, 0x0b}) {
		t.Errorf("Rewrite(%x) lost the shifted call", bin)
	}

	broken := module(types, imports, funcs, code, appendSection(nil, secCustom, append(appendName(nil, "name"), 1, 5, 9)))
	res = mustRewrite(t, broken, fuelOptions(10))
	if bytes.Contains(res.Binary, []byte("name")) {
		t.Errorf("Rewrite kept a malformed name section: %x", res.Binary)
	}
}
