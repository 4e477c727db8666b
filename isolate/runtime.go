package isolate

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/edged/edged/limits"
)

// RuntimeOptions configures a Runtime. The zero value is usable: no on-disk
// cache, guest executions bounded by GOMAXPROCS, logs discarded.
type RuntimeOptions struct {
	// CacheDir, when set, holds wazero's compilation cache and modules
	// downloaded by URL, so that a restarted daemon is ready without
	// recompiling or refetching.
	CacheDir string
	// MaxConcurrent bounds how many executions of guest code run at once,
	// across all functions. 0 means GOMAXPROCS: more than the core count only
	// makes every deadline less honest.
	MaxConcurrent int
	// Logger receives guest logs and captured stdout/stderr. nil discards.
	Logger *slog.Logger
	// Resolver resolves hostnames for guests' fetch calls; nil uses the
	// system resolver. Tests inject one.
	Resolver limits.Resolver
	// HTTPGet fetches modules loaded by URL; nil uses a plain HTTPS GET with
	// a 30s timeout and a 64MiB cap. Tests inject one.
	HTTPGet func(ctx context.Context, url string) ([]byte, error)
}

// Runtime is the shared wazero runtime: one compiler, one compilation cache,
// the host modules (http_handler, edged, WASI) and the execution limiter.
// Create Functions with Load. A Runtime is safe for concurrent use; Close it
// after the Functions it created.
type Runtime struct {
	rt    wazero.Runtime
	cache wazero.CompilationCache
	conc  *limits.Concurrency
	// long bounds how many guests run past longRun at once, to one slot fewer
	// than conc, so that one is always left for short invocations (fair.go);
	// nil with a single slot.
	long   *limits.Concurrency
	mem    *memoryPool
	log    *slog.Logger
	opts   RuntimeOptions
	epoch  time.Time // monotonic base for deadlines
	closed atomic.Bool

	mu        sync.Mutex
	functions map[*Function]struct{}
}

// NewRuntime creates a Runtime with the compiler engine.
func NewRuntime(ctx context.Context, opts RuntimeOptions) (*Runtime, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := wazero.NewRuntimeConfigCompiler().
		// Deadlines are enforced by fuel instrumentation (see deadline.go),
		// not by wazero's per-call watcher goroutine.
		WithCloseOnContextDone(false).
		WithCustomSections(false)
	r := &Runtime{
		conc:      limits.NewConcurrency(opts.MaxConcurrent),
		mem:       newMemoryPool(256),
		log:       log,
		opts:      opts,
		epoch:     time.Now(),
		functions: make(map[*Function]struct{}),
	}
	if n := r.conc.Cap(); n >= 2 {
		r.long = limits.NewConcurrency(n - 1)
	}
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache %q: %w", opts.CacheDir, err)
		}
		r.cache = c
		cfg = cfg.WithCompilationCache(c)
	}
	r.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	if err := r.instantiateWASI(ctx); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("instantiate wasi: %w", err)
	}
	for _, build := range []func(context.Context) error{r.instantiateHTTPHandler, r.instantiateEdged, r.instantiateRT} {
		if err := build(ctx); err != nil {
			_ = r.Close(ctx)
			return nil, err
		}
	}
	return r, nil
}

// procExit is the error a guest's proc_exit raises.
type procExit struct{ code uint32 }

func (e *procExit) Error() string { return fmt.Sprintf("guest called proc_exit(%d)", e.code) }

// instantiateWASI provides WASI preview 1 with edged's proc_exit. wazero's
// closes the module, so a WASI command that ends _start with proc_exit(0), as
// toolchains may, could never serve. edged's only unwinds the guest: the
// caller decides. During initialisation, code 0 is a normal end of start-up
// (instance.initialize); during a request it fails the invocation and the
// instance is discarded, whatever the code.
func (r *Runtime) instantiateWASI(ctx context.Context) error {
	b := r.rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
			panic(&procExit{code: uint32(stack[0])})
		}), []api.ValueType{api.ValueTypeI32}, nil).
		Export("proc_exit")
	_, err := b.Instantiate(ctx)
	return err
}

// now returns monotonic nanoseconds since the runtime started.
func (r *Runtime) now() int64 { return int64(time.Since(r.epoch)) }

// Concurrency reports how many executions of guest code run now and the cap.
func (r *Runtime) Concurrency() (inUse, limit int) { return r.conc.InUse(), r.conc.Cap() }

// Close closes every Function loaded from r, then the runtime. It is safe to
// call twice.
func (r *Runtime) Close(ctx context.Context) error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	r.mu.Lock()
	fns := make([]*Function, 0, len(r.functions))
	for f := range r.functions {
		fns = append(fns, f)
	}
	r.mu.Unlock()
	for _, f := range fns {
		_ = f.Close(ctx)
	}
	var err error
	if r.rt != nil {
		err = r.rt.Close(ctx)
	}
	if r.cache != nil {
		_ = r.cache.Close(ctx)
	}
	r.mem.close()
	return err
}

// moduleConfig is the WASI configuration every instance starts from: nothing
// granted (no preopens, no args), real clocks and randomness (wazero's
// defaults are deterministic fakes), the declared environment only.
func moduleConfig(env map[string]string) wazero.ModuleConfig {
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		// _initialize runs after the data segments are laid out (see
		// instance.initialize), not as a wazero start function.
		WithStartFunctions()
	for k, v := range env {
		cfg = cfg.WithEnv(k, v)
	}
	return cfg
}
