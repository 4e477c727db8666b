package wasmrw

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
)

// fuzzOptions derives Options from a fuzzed byte so every combination of
// transformations is explored.
func fuzzOptions(mode byte) Options {
	var o Options
	if mode&1 != 0 {
		o = fuelOptions(int32(mode>>4) + 1)
	}
	if mode&2 != 0 {
		o.MaxMemoryPages = uint32(mode>>4) + 1
	}
	if mode&4 != 0 {
		o.ExportMutableGlobals = true
	}
	if mode&9 == 9 {
		o.FuelGlobalExport = "__edged_fuel"
	}
	return o
}

// FuzzRewrite checks that Rewrite never panics, and that whenever wazero
// compiles (validates) the input and Rewrite succeeds, wazero compiles the
// output too.
func FuzzRewrite(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.wasm"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, mode := range []byte{0, 1, 3, 7, 9, 0x35} {
			f.Add(b, mode)
		}
	}
	f.Add(ehModule(), byte(1))
	f.Add([]byte("\x00asm\x01\x00\x00\x00"), byte(0xff))
	ctx := context.Background()
	// The interpreter validates exactly like the compiler and compiles much
	// faster, which is what a fuzz loop needs.
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(testFeatures))
	f.Cleanup(func() { _ = r.Close(ctx) })
	f.Fuzz(func(t *testing.T, wasm []byte, mode byte) {
		o := fuzzOptions(mode)
		res, err := Rewrite(wasm, o)
		if err != nil {
			return
		}
		if o == (Options{}) && string(res.Binary) != string(wasm) {
			// Only a malformed name section may be dropped, after which
			// the output is a fixed point.
			again, err := Rewrite(res.Binary, o)
			if err != nil || string(again.Binary) != string(res.Binary) {
				t.Fatalf("Rewrite with no options is not idempotent: %v", err)
			}
		}
		if err := compile(ctx, r, wasm); err != nil {
			return
		}
		if err := compile(ctx, r, res.Binary); err != nil {
			t.Fatalf("input compiles but Rewrite(%+v) output does not: %v", o, err)
		}
	})
}

// compile compiles b with r. wazero v1.12's experimental exception-handling
// validator panics on some invalid modules (an out-of-range tag type index,
// found by this fuzz target); compile turns such panics into errors so that
// an input wazero cannot digest is skipped rather than reported.
func compile(ctx context.Context, r wazero.Runtime, b []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("wazero panicked: %v", p)
		}
	}()
	cm, err := r.CompileModule(ctx, b)
	if err != nil {
		return err
	}
	return cm.Close(ctx)
}
