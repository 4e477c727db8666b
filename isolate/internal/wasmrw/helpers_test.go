package wasmrw

//go:generate sh testdata/build.sh

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// testFeatures enables every proposal whose opcodes the rewriter decodes and
// wazero v1.12 can compile, except typed function references: wazero's
// experimental validator for those panics on some malformed modules (found by
// FuzzRewrite), so only the hand-made module that needs them enables them
// (allFeatures).
const testFeatures = api.CoreFeaturesV2 | experimental.CoreFeaturesThreads | experimental.CoreFeaturesTailCall |
	experimental.CoreFeaturesExtendedConst | experimental.CoreFeaturesExceptionHandling

const allFeatures = testFeatures | experimental.CoreFeaturesTypedFunctionReferences

// errStop is what the test yield function panics with to abort a guest.
var errStop = errors.New("wasmrw test: fuel exhausted")

// yielder is a yield host function: it counts calls, returns budget, and
// panics with errStop on call number stopAfter (0 = never).
type yielder struct {
	calls     atomic.Int64
	budget    int32
	stopAfter int64
}

func (y *yielder) yield(_ context.Context, _ api.Module, stack []uint64) {
	if n := y.calls.Add(1); y.stopAfter > 0 && n >= y.stopAfter {
		panic(errStop)
	}
	stack[0] = api.EncodeI32(y.budget)
}

func fuelOptions(fuel int32) Options {
	return Options{YieldModule: "edged", YieldName: "yield", InitialFuel: fuel}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newRuntime returns a compiler-engine runtime with the "edged" yield module
// (backed by y) and the "env" test module instantiated.
func newRuntime(t testing.TB, y *yielder) wazero.Runtime {
	t.Helper()
	return newRuntimeFeatures(t, y, testFeatures)
}

func newRuntimeFeatures(t testing.TB, y *yielder, features api.CoreFeatures) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCoreFeatures(features))
	t.Cleanup(func() { _ = r.Close(ctx) })
	if y != nil {
		_, err := r.NewHostModuleBuilder("edged").NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(y.yield), nil, []api.ValueType{api.ValueTypeI32}).
			Export("yield").Instantiate(ctx)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.InstantiateWithConfig(ctx, readTestdata(t, "env.wasm"), wazero.NewModuleConfig().WithName("env")); err != nil {
		t.Fatal(err)
	}
	return r
}

func instantiate(t testing.TB, r wazero.Runtime, bin []byte, name string) api.Module {
	t.Helper()
	m, err := r.InstantiateWithConfig(context.Background(), bin, wazero.NewModuleConfig().WithName(name))
	if err != nil {
		t.Fatalf("instantiate %s: %v", name, err)
	}
	return m
}

func mustRewrite(t testing.TB, bin []byte, o Options) Result {
	t.Helper()
	res, err := Rewrite(bin, o)
	if err != nil {
		t.Fatalf("Rewrite(%+v) error: %v", o, err)
	}
	return res
}
