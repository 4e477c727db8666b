package isolate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/edged/edged/isolate/internal/wasmrw"
)

// How deadlines are enforced (RATIONALE.md has the long form).
//
// wazero's WithCloseOnContextDone starts a watcher goroutine for every call and
// makes every loop back-edge exit to Go: tens of µs per warm call and a large
// slowdown of loops. Without any check, a guest spinning in native code cannot
// be preempted, and the next stop-the-world GC waits for it forever.
//
// edged instead rewrites each module at load time (internal/wasmrw): every
// function entry and loop header decrements a fuel counter held in a wasm
// global, and when it runs out the guest calls edged_rt.yield. yield is Go
// code, so the goroutine can be preempted there (GC proceeds), and it compares
// the monotonic clock with the invocation's deadline: past it, the guest is
// aborted with errInterrupted. The fuel handed out adapts so that yields come
// about every yieldTarget, whatever the cost of the guest's loop body. Per
// warm call this costs two field writes; per loop iteration a few instructions.

const (
	rtModule     = "edged_rt"
	rtYield      = "yield"
	initialFuel  = 4096
	minFuel      = 16
	maxFuel      = 1 << 24
	yieldTarget  = int64(100 * time.Microsecond)
	sleepQuantum = 10 * time.Millisecond
)

// errInterrupted aborts a guest from inside a host function.
var errInterrupted = errors.New("interrupted at deadline")

// instrumentVersion names the rewriter's output format in the instrumented
// module cache: bump it whenever instrument's output changes.
const instrumentVersion = "1"

// instrumented is instrument's result: the module and its mutable globals.
type instrumented struct {
	Binary  []byte                `json:"-"`
	Globals []wasmrw.GlobalExport `json:"globals"`
}

// instrument adds the fuel counter and the yield import to a module, and
// exports its mutable globals for snapshots. With a cache directory the
// result is kept under the input's digest, so that a restarted daemon skips
// the rewrite (tens of ms for a Go guest).
func (r *Runtime) instrument(bin []byte) (instrumented, error) {
	var path string
	if r.opts.CacheDir != "" {
		sum := sha256.Sum256(bin)
		path = filepath.Join(r.opts.CacheDir, "instrumented", hex.EncodeToString(sum[:])+"-v"+instrumentVersion)
		if out, ok := readInstrumented(path); ok {
			return out, nil
		}
	}
	res, err := wasmrw.Rewrite(bin, wasmrw.Options{
		YieldModule:          rtModule,
		YieldName:            rtYield,
		InitialFuel:          initialFuel,
		ExportMutableGlobals: true,
	})
	if err != nil {
		return instrumented{}, fmt.Errorf("instrument: %w", err)
	}
	out := instrumented{Binary: res.Binary, Globals: res.MutableGlobals}
	if path != "" {
		// Best effort: a cache that cannot be written costs a rewrite.
		if meta, err := json.Marshal(out); err == nil && writeFileAtomic(path+".json", meta) == nil {
			_ = writeFileAtomic(path+".wasm", out.Binary)
		}
	}
	return out, nil
}

// readInstrumented reads a cached rewrite; anything missing or unreadable is
// a miss.
func readInstrumented(path string) (instrumented, bool) {
	meta, err := os.ReadFile(path + ".json")
	if err != nil {
		return instrumented{}, false
	}
	var out instrumented
	if json.Unmarshal(meta, &out) != nil {
		return instrumented{}, false
	}
	if out.Binary, err = readFileCapped(path + ".wasm"); err != nil {
		return instrumented{}, false
	}
	return out, true
}

func (r *Runtime) instantiateRT(ctx context.Context) error {
	_, err := r.rt.NewHostModuleBuilder(rtModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(r.yield), nil, []api.ValueType{api.ValueTypeI32}).
		Export(rtYield).
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("instantiate %s: %w", rtModule, err)
	}
	return nil
}

// yield is called by instrumented guests when their fuel runs out. It returns
// the next fuel grant or aborts the guest past its deadline.
func (r *Runtime) yield(ctx context.Context, _ api.Module, stack []uint64) {
	inst := instanceFrom(ctx)
	if inst == nil {
		stack[0] = initialFuel
		return
	}
	now := r.now()
	if now > inst.deadline {
		inst.interrupt = ErrDeadline
		panic(errInterrupted)
	}
	// A caller that gave up (client gone, server shutting down) stops the
	// guest too: its answer would be thrown away.
	if inst.callCtx != nil {
		if err := inst.callCtx.Err(); err != nil {
			inst.interrupt = ErrCanceled
			panic(errInterrupted)
		}
	}
	if inst.holding && (inst.shareSlot(now) || inst.holdLong(now)) {
		// It waited for its slot: that says nothing of its loop speed, so
		// its fuel stays as it was.
		stack[0] = uint64(inst.fuel)
		return
	}
	switch el := now - inst.lastTick; {
	case el < yieldTarget/4 && inst.fuel < maxFuel:
		inst.fuel *= 2
	case el > yieldTarget && inst.fuel > minFuel:
		inst.fuel /= 2
	}
	inst.lastTick = now
	stack[0] = uint64(inst.fuel)
}

// nanosleep backs WASI's clock sleeps: a guest may sleep, but never past its
// deadline; sleeping into it aborts the guest like a loop would.
func (inst *instance) nanosleep(ns int64) {
	rt := inst.fn.rt
	end := rt.now() + ns
	for {
		now := rt.now()
		if now >= end {
			return
		}
		if now > inst.deadline {
			inst.interrupt = ErrDeadline
			panic(errInterrupted)
		}
		d := min(end, inst.deadline+1) - now
		time.Sleep(min(time.Duration(d), sleepQuantum))
	}
}
