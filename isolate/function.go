package isolate

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/edged/edged/isolate/internal/wasmrw"
	"github.com/edged/edged/limits"
)

// FunctionOptions configures one function. The zero value of each field is
// its documented default.
type FunctionOptions struct {
	// Name identifies the function in errors, logs and stats.
	Name string
	// Policy holds the per-invocation limits; zero fields take the limits
	// package defaults (1s, 64MiB, deny-all egress, ...).
	Policy limits.Policy
	// MinInstances are kept instantiated and warm, like provisioned
	// concurrency. Default 0.
	MinInstances int
	// MaxInstances caps live instances, which is also this function's
	// concurrency. Default 16.
	MaxInstances int
	// MaxWait bounds how long a request waits for a busy pool and then for
	// an execution slot (fair.go), together, before ErrPoolExhausted.
	// Default 1s.
	MaxWait time.Duration
	// MaxQueue bounds how many requests may wait at once; more fail at once
	// with ErrPoolExhausted. Default 1024: MaxWait is the real bound, and an
	// edge under a few hundred connections must not refuse requests that
	// would have been served within it.
	MaxQueue int
	// IdleTimeout tears down instances above MinInstances that have been idle
	// this long. Default 60s.
	IdleTimeout time.Duration
	// Fresh gives every request a new instance, discarded afterwards: the
	// strongest isolation (no state survives between requests).
	Fresh bool
	// InitTimeout bounds instantiation including the guest's start section
	// and its _initialize or _start (the Go runtime's start-up, a command's
	// main). Default 10 × Policy.Timeout, at least 1s.
	InitTimeout time.Duration
	// DisableSnapshot makes every new instance run the guest's _initialize
	// (or _start) instead of starting from the state recorded at load (see snapshot.go
	// for what a snapshot shares between instances).
	DisableSnapshot bool
	// Config is returned to the guest by get_config.
	Config []byte
	// Env is the guest's entire WASI environment.
	Env map[string]string
	// Secrets holds the values of the secrets granted to this function, by
	// name. They are readable through edged.secret_get only, never environ.
	Secrets map[string][]byte
	// Logger receives this function's guest logs; nil uses the Runtime's.
	Logger *slog.Logger
	// Publish lists the NATS subject patterns the guest may publish events
	// to with edged.publish (`*` one token, a final `>` one or more); empty
	// allows none. A subject outside it is refused with EGRESS_DENIED and a
	// warning in the log.
	Publish []string
	// Publisher stores what the guest publishes; nil makes edged.publish
	// return UNAVAILABLE (events are not configured).
	Publisher Publisher
	// MaxPublishes bounds edged.publish calls per invocation; default
	// DefaultMaxPublishes.
	MaxPublishes int
	// MaxPublishBytes bounds the data of one invocation's publishes, summed,
	// and so the largest event; default DefaultMaxPublishBytes.
	MaxPublishBytes int64
	// BillingGranularity is the unit each invocation's exec time is rounded
	// up to in Usage.Billed, like a FaaS provider's billing increment.
	// Default (0) 1ms.
	BillingGranularity time.Duration
	// OnInvoke, when set, is called synchronously after every invocation
	// with its outcome. It must be cheap. It takes a value so that the
	// invocation record never escapes to the heap.
	OnInvoke func(Invocation)
}

// Invocation is the outcome of one Handle call, for metrics.
type Invocation struct {
	Function string
	// Cold is true when the invocation had to instantiate (no warm instance).
	Cold bool
	// Instantiate is the time spent instantiating (0 when warm).
	Instantiate time.Duration
	// Exec is the time spent running guest code (both phases).
	Exec time.Duration
	// Wait is the time spent waiting for a pool slot.
	Wait time.Duration
	// Next reports whether the guest continued to the next handler.
	Next bool
	// Subrequests counts the guest's fetch calls.
	Subrequests int
	// Publishes counts the guest's edged.publish calls that used the
	// budget (denied ones included).
	Publishes int
	// Err is the invocation's error, nil on success.
	Err error
}

// Stats are a function's cumulative counters. Read them with Function.Stats.
type Stats struct {
	Invocations   uint64
	ColdStarts    uint64
	WarmStarts    uint64
	Deadlines     uint64
	MemoryLimits  uint64
	Traps         uint64
	BodyTooLarge  uint64
	PoolExhausted uint64
	// EgressDenied and BudgetExhausted count refused fetch calls.
	EgressDenied    uint64
	BudgetExhausted uint64
	// InstantiateTotal is the summed time of all instantiations.
	InstantiateTotal time.Duration
	// CompileTime is the time Load spent compiling (near zero on a warm
	// compilation cache).
	CompileTime time.Duration
	// Instances, Idle and InUse describe the pool now.
	Instances, Idle, InUse int
}

type counters struct {
	invocations, cold, warm, deadlines, memory, traps, tooLarge, exhausted, denied, budget atomic.Uint64
	instantiateNanos                                                                       atomic.Int64
}

// Function is a loaded, compiled guest with its instance pool. Handle is safe
// for concurrent use. Close releases its instances.
type Function struct {
	name     string
	rt       *Runtime
	compiled wazero.CompiledModule
	opts     FunctionOptions
	policy   limits.Policy
	log      *slog.Logger
	modCfg   wazero.ModuleConfig
	egress   *limits.Client
	memCap   uint64
	hasResp  bool // exports handle_response
	// initFn is the export run once per instance before it serves:
	// _initialize (WASI reactor), else _start (WASI command), else none.
	initFn   string
	hasStart bool // has a start section, run by wazero at instantiation
	snap     *snapshot
	slots    *limits.ConcurrencyClass // this function's share of rt.conc
	long     *limits.ConcurrencyClass // its share of rt.long; nil when rt.long is
	// globals lists the module's mutable globals and their exports, for
	// snapshots.
	globals []wasmrw.GlobalExport
	// data holds the active data segments stripped from the module; each
	// instance that does not start from a snapshot lays them out itself.
	data    []wasmrw.DataSegment
	compile time.Duration
	c       counters
	u       usage // cost-report counters (usage.go)

	mu      sync.Mutex
	idle    []*instance // LIFO: the most recently used instance is the warmest
	total   int
	waiters []chan *instance
	closed  bool

	stop chan struct{}
	wg   sync.WaitGroup

	exchanges sync.Pool // *exchange values of the http.Handler adapter
}

// Defaults of FunctionOptions, exported so that a config layer shows the
// values that will be enforced without writing them a second time.
const (
	DefaultMaxInstances       = 16
	DefaultMaxWait            = time.Second
	DefaultMaxQueue           = 1024
	DefaultIdleTimeout        = 60 * time.Second
	DefaultBillingGranularity = time.Millisecond
)

// withDefaults fills the zero fields of o with their defaults; policy is
// o.Policy with its own defaults, on which InitTimeout's default depends.
func (o FunctionOptions) withDefaults(policy limits.Policy) FunctionOptions {
	if o.MaxInstances <= 0 {
		o.MaxInstances = DefaultMaxInstances
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = DefaultMaxQueue
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.InitTimeout <= 0 {
		o.InitTimeout = max(10*policy.Timeout, time.Second)
	}
	if o.BillingGranularity <= 0 {
		o.BillingGranularity = DefaultBillingGranularity
	}
	if o.MaxPublishes == 0 {
		o.MaxPublishes = DefaultMaxPublishes
	}
	if o.MaxPublishBytes == 0 {
		o.MaxPublishBytes = DefaultMaxPublishBytes
	}
	return o
}

// Load reads, verifies, instruments and compiles a module and returns it as a
// Function with its pool, MinInstances already warm. Errors wrap ErrBadModule
// for modules that cannot serve (missing exports, memory over the cap, ...).
func (r *Runtime) Load(ctx context.Context, src Source, opts FunctionOptions) (*Function, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	policy := opts.Policy.WithDefaults()
	if err := policy.Validate(); err != nil {
		return nil, fmt.Errorf("function %q: %w", opts.Name, err)
	}
	opts = opts.withDefaults(policy)
	if opts.MinInstances < 0 || opts.MinInstances > opts.MaxInstances {
		return nil, fmt.Errorf("function %q: min instances %d must be between 0 and max instances %d", opts.Name, opts.MinInstances, opts.MaxInstances)
	}
	if err := checkPublishOptions(opts); err != nil {
		return nil, fmt.Errorf("function %q: %w", opts.Name, err)
	}
	f, err := r.compile(ctx, src, opts, policy)
	if err != nil {
		return nil, err
	}
	if f.initFn != "" && !opts.DisableSnapshot {
		snap, err := f.takeSnapshot(ctx)
		if err != nil {
			_ = f.Close(ctx)
			return nil, fmt.Errorf("function %q: initialise: %w", opts.Name, err)
		}
		f.snap = snap
		f.data = nil // the snapshot holds them
	}

	for i := 0; i < opts.MinInstances; i++ {
		inst, err := f.newInstance(ctx)
		if err != nil {
			_ = f.Close(ctx)
			return nil, fmt.Errorf("function %q: warm instance %d: %w", opts.Name, i, err)
		}
		f.total++
		f.idle = append(f.idle, inst)
	}
	r.mu.Lock()
	r.functions[f] = struct{}{}
	r.mu.Unlock()
	if !opts.Fresh {
		f.wg.Add(1)
		go f.reapIdle()
	}
	return f, nil
}

// compile reads, instruments and compiles src, and returns the Function built
// on it, not yet initialised (no snapshot, no instances): the part of Load
// that only needs the module's bytes.
func (r *Runtime) compile(ctx context.Context, src Source, opts FunctionOptions, policy limits.Policy) (*Function, error) {
	bin, err := r.read(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("function %q: %w", opts.Name, err)
	}
	ins, err := r.instrument(bin)
	if err != nil {
		return nil, fmt.Errorf("function %q: %w: %v", opts.Name, ErrBadModule, err)
	}
	globals := ins.Globals
	// StripData keeps the segments of a module with a start section: wazero
	// runs that inside instantiation, before the host could lay them out.
	bin, data, _, err := wasmrw.StripData(ins.Binary)
	if err != nil {
		return nil, fmt.Errorf("function %q: %w: %v", opts.Name, ErrBadModule, err)
	}
	start := time.Now()
	compiled, err := compileSafely(ctx, r, bin)
	if err != nil {
		return nil, fmt.Errorf("function %q: %w: compile: %v", opts.Name, ErrBadModule, err)
	}
	f := &Function{
		name:     opts.Name,
		rt:       r,
		compiled: compiled,
		opts:     opts,
		policy:   policy,
		log:      opts.Logger,
		memCap:   uint64(policy.MemoryPages()) * 65536,
		compile:  time.Since(start),
		slots:    r.conc.NewClass(),
		stop:     make(chan struct{}),
		u:        usage{start: r.now(), granularity: int64(opts.BillingGranularity)},

		globals: globals,
		data:    data,
	}
	if r.long != nil {
		f.long = r.long.NewClass()
	}
	if f.log == nil {
		f.log = r.log
	}
	f.log = f.log.With("function", opts.Name)
	if err := f.checkExports(); err != nil {
		_ = compiled.Close(ctx)
		return nil, fmt.Errorf("function %q: %w: %v", opts.Name, ErrBadModule, err)
	}
	f.opts.Secrets = maps.Clone(opts.Secrets)
	f.opts.Publish = slices.Clone(opts.Publish)
	f.modCfg = moduleConfig(opts.Env)
	f.egress = limits.NewClient(policy.Egress, r.opts.Resolver)
	exports := compiled.ExportedFunctions()
	for _, name := range []string{"_initialize", "_start"} {
		if fd, ok := exports[name]; ok && len(fd.ParamTypes()) == 0 && len(fd.ResultTypes()) == 0 {
			f.initFn = name
			break
		}
	}
	f.hasStart, err = wasmrw.HasStart(bin)
	if err != nil {
		_ = compiled.Close(ctx)
		return nil, fmt.Errorf("function %q: %w: %v", opts.Name, ErrBadModule, err)
	}
	return f, nil
}

// compileSafely compiles bin, turning a panic inside wazero's validator into
// an error: modules are untrusted input, and fuzzing found inputs that make
// wazero panic (the rewriter has already refused those it knows of).
func compileSafely(ctx context.Context, r *Runtime, bin []byte) (c wazero.CompiledModule, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("compiler panic: %v", p)
		}
	}()
	return r.rt.CompileModule(ctx, bin)
}

// checkExports verifies the http-wasm guest contract before any request
// depends on it.
func (f *Function) checkExports() error {
	exp := f.compiled.ExportedFunctions()
	hr, ok := exp["handle_request"]
	if !ok {
		return fmt.Errorf("module does not export handle_request (is it an http-wasm guest? Go guests need -buildmode=c-shared)")
	}
	if len(hr.ParamTypes()) != 0 || len(hr.ResultTypes()) != 1 || hr.ResultTypes()[0] != api.ValueTypeI64 {
		return fmt.Errorf("handle_request must have type () -> i64")
	}
	if hresp, ok := exp["handle_response"]; ok {
		p := hresp.ParamTypes()
		if len(p) != 2 || p[0] != api.ValueTypeI32 || p[1] != api.ValueTypeI32 || len(hresp.ResultTypes()) != 0 {
			return fmt.Errorf("handle_response must have type (i32, i32) -> ()")
		}
		f.hasResp = true
	}
	if _, ok := f.compiled.ExportedMemories()["memory"]; !ok {
		return fmt.Errorf("module does not export its memory as \"memory\"")
	}
	for _, m := range f.compiled.ExportedMemories() {
		if uint64(m.Min())*65536 > f.memCap {
			return fmt.Errorf("module needs %d pages of memory at start, over the cap of %d", m.Min(), f.memCap/65536)
		}
	}
	if len(f.compiled.ImportedMemories()) != 0 {
		return fmt.Errorf("module imports its memory; guests must define their own")
	}
	return nil
}

// Name returns the function's name.
func (f *Function) Name() string { return f.name }

// Policy returns the function's limits, defaults applied.
func (f *Function) Policy() limits.Policy { return f.policy }

// Stats returns the function's counters and pool state.
func (f *Function) Stats() Stats {
	f.mu.Lock()
	total, idle := f.total, len(f.idle)
	f.mu.Unlock()
	return Stats{
		Invocations:      f.c.invocations.Load(),
		ColdStarts:       f.c.cold.Load(),
		WarmStarts:       f.c.warm.Load(),
		Deadlines:        f.c.deadlines.Load(),
		MemoryLimits:     f.c.memory.Load(),
		Traps:            f.c.traps.Load(),
		BodyTooLarge:     f.c.tooLarge.Load(),
		PoolExhausted:    f.c.exhausted.Load(),
		EgressDenied:     f.c.denied.Load(),
		BudgetExhausted:  f.c.budget.Load(),
		InstantiateTotal: time.Duration(f.c.instantiateNanos.Load()),
		CompileTime:      f.compile,
		Instances:        total,
		Idle:             idle,
		InUse:            total - idle,
	}
}

// Close tears down the pool and the compiled module. In-flight invocations
// finish; their instances are closed when they return. Safe to call twice.
func (f *Function) Close(ctx context.Context) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	idle := f.idle
	f.idle = nil
	f.total -= len(idle)
	waiters := f.waiters
	f.waiters = nil
	f.mu.Unlock()
	close(f.stop)
	for _, ch := range waiters {
		close(ch)
	}
	for _, inst := range idle {
		inst.close(ctx)
	}
	f.wg.Wait()
	f.snap.close()
	if f.egress != nil {
		f.egress.Close()
	}
	f.rt.mu.Lock()
	delete(f.rt.functions, f)
	f.rt.mu.Unlock()
	return f.compiled.Close(ctx)
}

// acquire returns an instance: a warm idle one, a new one while under
// MaxInstances, or one handed over by a releasing request within MaxWait.
func (f *Function) acquire(ctx context.Context, inv *Invocation) (*instance, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(f.idle); n > 0 && !f.opts.Fresh {
		inst := f.idle[n-1]
		f.idle[n-1] = nil
		f.idle = f.idle[:n-1]
		f.mu.Unlock()
		return inst, nil
	}
	if f.total < f.opts.MaxInstances {
		f.total++
		f.mu.Unlock()
		return f.instantiate(ctx, inv)
	}
	if len(f.waiters) >= f.opts.MaxQueue {
		f.mu.Unlock()
		return nil, ErrPoolExhausted
	}
	ch := make(chan *instance, 1)
	f.waiters = append(f.waiters, ch)
	f.mu.Unlock()

	waitStart := time.Now()
	timer := time.NewTimer(f.opts.MaxWait)
	defer timer.Stop()
	select {
	case inst, ok := <-ch:
		inv.Wait = time.Since(waitStart)
		if !ok {
			return nil, ErrClosed
		}
		if inst == nil { // a slot was freed for us: make an instance
			return f.instantiate(ctx, inv)
		}
		return inst, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	inv.Wait = time.Since(waitStart)
	f.mu.Lock()
	for i, w := range f.waiters {
		if w == ch {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			f.mu.Unlock()
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return nil, ErrPoolExhausted
		}
	}
	f.mu.Unlock()
	// A releaser picked us after all: take what it sent and pass it on.
	if inst, ok := <-ch; ok {
		f.release(inst, inst != nil)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, ErrPoolExhausted
}

// instantiate creates an instance for a slot already counted in f.total.
func (f *Function) instantiate(ctx context.Context, inv *Invocation) (*instance, error) {
	start := time.Now()
	inst, err := f.newInstance(ctx)
	inv.Cold = true
	inv.Instantiate = time.Since(start)
	f.c.instantiateNanos.Add(int64(inv.Instantiate))
	if err != nil {
		f.release(nil, false)
		return nil, err
	}
	return inst, nil
}

// release returns inst to the pool, or discards it (healthy == false, or a
// fresh-instance function) and frees its slot. inst may be nil to free a slot
// whose instantiation failed.
func (f *Function) release(inst *instance, healthy bool) {
	f.mu.Lock()
	if !healthy || f.opts.Fresh || f.closed {
		f.total--
		var ch chan *instance
		if len(f.waiters) > 0 && !f.closed {
			ch = f.waiters[0]
			f.waiters = f.waiters[1:]
			f.total++
		}
		f.mu.Unlock()
		if inst != nil {
			inst.close(context.Background())
		}
		if ch != nil {
			ch <- nil
		}
		return
	}
	if len(f.waiters) > 0 {
		ch := f.waiters[0]
		f.waiters = f.waiters[1:]
		f.mu.Unlock()
		ch <- inst
		return
	}
	inst.lastUsed = f.rt.now()
	f.idle = append(f.idle, inst)
	f.mu.Unlock()
}

// reapIdle tears down instances idle for longer than IdleTimeout while more
// than MinInstances exist.
func (f *Function) reapIdle() {
	defer f.wg.Done()
	every := max(f.opts.IdleTimeout/2, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		cutoff := f.rt.now() - int64(f.opts.IdleTimeout)
		var victims []*instance
		f.mu.Lock()
		// idle is LIFO, so the oldest instances are at the front.
		n := 0
		for n < len(f.idle) && f.total-n > f.opts.MinInstances && f.idle[n].lastUsed < cutoff {
			n++
		}
		if n > 0 {
			victims = append(victims, f.idle[:n]...)
			f.idle = append(f.idle[:0], f.idle[n:]...)
			f.total -= n
		}
		f.mu.Unlock()
		for _, inst := range victims {
			inst.close(context.Background())
		}
	}
}
