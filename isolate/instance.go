package isolate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/edged/edged/limits"
)

// instanceKey finds the instance behind a host function call: each instance
// carries a context holding itself, built once, so host functions reach their
// request state without a lookup table or a per-call allocation.
type instanceKey struct{}

func instanceFrom(ctx context.Context) *instance {
	inst, _ := ctx.Value(instanceKey{}).(*instance)
	return inst
}

// maxFetchHandles bounds the open fetch responses of one invocation.
const maxFetchHandles = 8

// instance is one instantiated guest. It serves one invocation at a time.
type instance struct {
	fn        *Function
	mod       api.Module
	mem       api.Memory
	handleReq api.Function
	handleRes api.Function
	ctx       context.Context // value-only context naming this instance; see instanceKey
	lm        *linearMemory   // the instance's memory, when it is one of ours
	stack     [2]uint64
	lastUsed  int64 // runtime.now() when last returned to the pool
	born      int64 // runtime.now() when instantiation began, for Usage
	alive     bool  // born was recorded in the function's usage

	// Deadline enforcement (deadline.go).
	deadline int64 // runtime.now() past which guest code is interrupted
	fuel     int32 // fuel handed out per yield, adapted to the guest's loop speed
	lastTick int64
	// Execution slot (fair.go): whether the instance holds one, and since
	// when it has run on it.
	holding bool
	turn    int64
	// Long slot (fair.go): whether the instance holds one, and since when
	// it has run without waiting on the network or the store.
	longHeld bool
	longTurn int64 // when it took its long slot, for the quantum
	runStart int64

	// Per-invocation state, reset by begin. callCtx is the caller's context
	// for this invocation only: host functions that block (fetch) honour its
	// cancellation. It is cleared by end.
	callCtx  context.Context
	req      *Request
	resp     *Response
	phase    int    // phaseInit until the first call, then phaseRequest or phaseResponse
	features uint32 // enabled for this invocation: initFeatures and what it enabled
	// initFeatures were enabled while the instance initialised; every
	// invocation starts from them.
	initFeatures uint32
	reqRead      int  // read_body offset into req.Body
	respRead     int  // read_body offset into resp.Body
	reqWritten   bool // the guest has replaced the request body
	resWritten   bool // the guest has replaced the upstream's response body
	logBytes     int64
	budget       *limits.Budget
	fetches      [maxFetchHandles]*fetchHandle
	publishes    int   // edged.publish calls counted against MaxPublishes
	publishBytes int64 // data published, against MaxPublishBytes
	interrupt    error // why the guest was stopped from a host function, if it was
	out          *limits.CappedBuffer
	trace        *InvocationTrace // the caller's hooks, nil when not tracing
}

const (
	phaseInit = iota
	phaseRequest
	phaseResponse
)

// newInstance instantiates the module with this instance's context, memory
// allocator and captured output, running the guest's _initialize under the
// function's InitTimeout.
func (f *Function) newInstance(ctx context.Context) (*instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	inst := &instance{
		fn:     f,
		born:   f.rt.now(),
		fuel:   initialFuel,
		budget: limits.NewBudget(f.policy.Egress.MaxSubrequests),
		out:    limits.NewCappedBuffer(f.policy.MaxLogBytes),
	}
	alloc := f.rt.mem.allocator(f.memCap, func(lm *linearMemory) { inst.lm = lm })
	inst.ctx = context.WithValue(experimental.WithMemoryAllocator(context.Background(), alloc), instanceKey{}, inst)
	cfg := f.modCfg.WithStdout(inst.out).WithStderr(inst.out).WithNanosleep(inst.nanosleep)
	// A start section runs inside InstantiateModule: it is guest code like
	// _initialize, under the same deadline and execution limiter.
	inst.deadline = f.rt.now() + int64(f.opts.InitTimeout)
	inst.lastTick = f.rt.now()
	if f.hasStart {
		if err := f.rt.conc.Acquire(ctx); err != nil {
			return nil, err
		}
		inst.callCtx = ctx
	}
	mod, err := f.rt.rt.InstantiateModule(inst.ctx, f.compiled, cfg)
	if f.hasStart {
		f.rt.conc.Release()
		inst.callCtx = nil
		inst.flushOutput("start")
	}
	if err != nil {
		kind := inst.classify(err)
		inst.count(kind)
		return nil, &InvokeError{Function: f.name, Phase: "instantiate", Kind: kind, Cause: err}
	}
	inst.mod = mod
	inst.mem = mod.Memory()
	inst.features = inst.initFeatures
	if f.snap != nil {
		err = f.snap.restore(inst)
	} else {
		err = inst.initialize(ctx)
	}
	if err != nil {
		inst.close(ctx)
		var ie *InvokeError
		if errors.As(err, &ie) {
			return nil, err
		}
		return nil, &InvokeError{Function: f.name, Phase: "instantiate", Kind: ErrTrap, Cause: err}
	}
	inst.handleReq = mod.ExportedFunction("handle_request")
	inst.alive = true
	f.u.born(inst.born)
	// handle_response is looked up on first use: each exported function
	// wazero hands out carries its own call stack, and most guests are
	// endpoints that never return "next".
	return inst, nil
}

// initialize lays the module's data segments into memory (the loader
// stripped them from the module, see wasmrw.StripData) and runs the guest's
// initialisation function (f.initFn: _initialize of a WASI reactor, or _start
// of a WASI command such as a TinyGo guest, whose main registers the
// handler), under InitTimeout and the execution limiter. A command that ends
// _start with proc_exit(0) has finished its start-up normally and is kept.
func (inst *instance) initialize(ctx context.Context) error {
	f := inst.fn
	for _, seg := range f.data {
		if !inst.mem.Write(seg.Offset, seg.Bytes) {
			return fmt.Errorf("data segment at %d (%d bytes) is out of bounds", seg.Offset, len(seg.Bytes))
		}
	}
	if f.initFn == "" {
		return nil
	}
	init := inst.mod.ExportedFunction(f.initFn)
	if err := inst.takeSlot(ctx, f.opts.InitTimeout); err != nil {
		return err
	}
	inst.callCtx = ctx
	inst.deadline = f.rt.now() + int64(f.opts.InitTimeout)
	inst.lastTick = f.rt.now()
	inst.runStart = inst.lastTick
	err := init.CallWithStack(inst.ctx, inst.stack[:])
	inst.dropSlot()
	inst.dropLong()
	inst.callCtx = nil
	inst.flushOutput("init")
	if pe := (*procExit)(nil); errors.As(err, &pe) && pe.code == 0 && inst.interrupt == nil {
		err = nil
	}
	if err != nil {
		kind := inst.classify(err)
		inst.count(kind)
		return &InvokeError{Function: f.name, Phase: "instantiate", Kind: kind, Cause: err}
	}
	return nil
}

func (inst *instance) close(ctx context.Context) {
	if inst.alive {
		inst.alive = false
		inst.fn.u.died(inst.born, inst.fn.rt.now())
	}
	if inst.mod != nil {
		_ = inst.mod.Close(ctx)
	}
}

// Handle runs the guest on req and writes its answer into resp. If the guest
// returns "next", Handle calls next with the (possibly modified) request and
// resp, then runs the guest's handle_response on the result. resp is reset
// first. The deadline covers guest code only, not next.
//
// Errors: ErrBodyTooLarge (request or response body over the cap),
// ErrPoolExhausted, ErrDeadline, ErrMemoryLimit, ErrTrap, ErrNoNext,
// ErrClosed, the error of next, or ctx's error. Guest failures come as
// *InvokeError. An instance that failed is discarded, never reused.
func (f *Function) Handle(ctx context.Context, req *Request, resp *Response, next Next) error {
	var inv Invocation
	start := f.rt.now()
	f.u.enter()
	err := f.handle(ctx, req, resp, next, &inv)
	f.u.leave(start, f.rt.now(), &inv)
	if f.opts.OnInvoke != nil {
		inv.Function = f.name
		inv.Err = err
		f.opts.OnInvoke(inv)
	}
	return err
}

// Next continues a request the guest passed on: it must fill resp (the
// upstream's answer) or return an error, which the guest's handle_response
// sees as is_error = 1.
type Next func(ctx context.Context, req *Request, resp *Response) error

func (f *Function) handle(ctx context.Context, req *Request, resp *Response, next Next, inv *Invocation) error {
	f.c.invocations.Add(1)
	if int64(len(req.Body)) > int64(f.policy.MaxRequestBody) {
		f.c.tooLarge.Add(1)
		return &InvokeError{Function: f.name, Phase: phaseReadRequest, Kind: ErrBodyTooLarge,
			Cause: fmt.Errorf("request body of %d bytes over the cap of %d", len(req.Body), f.policy.MaxRequestBody)}
	}
	trace := invocationTrace(ctx)
	var acqStart int64
	if trace != nil && trace.Acquired != nil {
		acqStart = f.rt.now()
	}
	inst, err := f.acquire(ctx, inv)
	if trace != nil && trace.Acquired != nil {
		trace.Acquired(inv.Cold, f.rt.at(acqStart), f.rt.at(f.rt.now()), err)
	}
	if err != nil {
		if errors.Is(err, ErrPoolExhausted) {
			f.c.exhausted.Add(1)
			return &InvokeError{Function: f.name, Phase: "acquire", Kind: ErrPoolExhausted}
		}
		return err
	}
	if inv.Cold {
		f.c.cold.Add(1)
	} else {
		f.c.warm.Add(1)
	}
	// The instance is busy from its instantiation (cold) or from now (warm)
	// until release.
	busyStart := f.rt.now() - int64(inv.Instantiate)
	resp.Reset()
	inst.begin(ctx, req, resp)
	inst.trace = trace
	healthy := false
	defer func() {
		inv.Subrequests = inst.budget.Used()
		inv.Publishes = inst.publishes
		inst.end()
		f.u.busyNanos.Add(f.rt.now() - busyStart)
		f.release(inst, healthy)
	}()

	// The wait for an instance and for a slot share MaxWait.
	ret, exec, err := inst.call(ctx, inst.handleReq, phaseRequest, f.opts.MaxWait-inv.Wait)
	inv.Exec = exec
	if err != nil {
		return err
	}
	if uint32(ret) == 0 { // the guest answered
		healthy = true
		return nil
	}
	inv.Next = true
	if next == nil {
		return ErrNoNext
	}
	nextErr := next(ctx, req, resp)
	if f.hasResp && inst.handleRes == nil {
		inst.handleRes = inst.mod.ExportedFunction("handle_response")
	}
	if inst.handleRes != nil {
		isErr := uint64(0)
		if nextErr != nil {
			isErr = 1
		}
		inst.stack[0] = uint64(uint32(ret >> 32)) // reqCtx chosen by the guest
		inst.stack[1] = isErr
		_, exec, err = inst.call(ctx, inst.handleRes, phaseResponse, f.opts.MaxWait)
		inv.Exec += exec
		if err != nil {
			return err
		}
	}
	healthy = true
	return nextErr
}

// call runs one guest export under the execution limiter (waiting at most
// maxWait for a slot) and the deadline, and returns its result and how long
// the guest ran. Arguments are in inst.stack already. It reads the clock
// twice: clock reads are a visible share of a warm call.
func (inst *instance) call(ctx context.Context, fn api.Function, phase int, maxWait time.Duration) (uint64, time.Duration, error) {
	f := inst.fn
	if err := inst.takeSlot(ctx, max(maxWait, 1)); err != nil {
		return 0, 0, err
	}
	inst.phase = phase
	start := inst.turn
	inst.deadline = start + int64(f.policy.Timeout)
	inst.lastTick = start
	inst.runStart = start
	err := fn.CallWithStack(inst.ctx, inst.stack[:])
	end := f.rt.now()
	exec := time.Duration(end - start)
	inst.dropSlot()
	inst.dropLong()
	name := "handle_request"
	if phase == phaseResponse {
		name = "handle_response"
	}
	inst.flushOutput(name)
	if err != nil {
		kind := inst.classify(err)
		inst.count(kind)
		err = &InvokeError{Function: f.name, Phase: name, Kind: kind, Cause: err}
	}
	if t := inst.trace; t != nil && t.Called != nil {
		t.Called(name, f.rt.at(start), f.rt.at(end), err)
	}
	if err != nil {
		return 0, exec, err
	}
	return inst.stack[0], exec, nil
}

// begin prepares the per-invocation state.
func (inst *instance) begin(ctx context.Context, req *Request, resp *Response) {
	inst.callCtx = ctx
	inst.features = inst.initFeatures
	inst.req = req
	inst.resp = resp
	inst.reqRead, inst.respRead = 0, 0
	inst.reqWritten, inst.resWritten = false, false
	inst.logBytes = 0
	inst.interrupt = nil
	inst.budget.Reset(inst.fn.policy.Egress.MaxSubrequests)
	inst.publishes, inst.publishBytes = 0, 0
}

// end drops references to the caller's objects and closes open fetches.
func (inst *instance) end() {
	for i, h := range inst.fetches {
		if h != nil {
			h.close()
			inst.fetches[i] = nil
		}
	}
	inst.callCtx = nil
	inst.req = nil
	inst.resp = nil
	inst.trace = nil
}

// classify maps an error from wazero to one of the sentinel kinds.
func (inst *instance) classify(err error) error {
	if inst.interrupt != nil {
		return inst.interrupt
	}
	switch {
	case errors.Is(err, errInterrupted):
		return ErrDeadline
	case errors.Is(err, ErrBodyTooLarge):
		return ErrBodyTooLarge
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ErrDeadline
	}
	if inst.mod != nil {
		if mem := inst.mod.Memory(); mem != nil && uint64(mem.Size())+65536 > inst.fn.memCap {
			return ErrMemoryLimit
		}
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded {
		return ErrDeadline
	}
	return ErrTrap
}

func (inst *instance) count(kind error) {
	c := &inst.fn.c
	switch kind {
	case ErrDeadline:
		c.deadlines.Add(1)
	case ErrCanceled:
	case ErrMemoryLimit:
		c.memory.Add(1)
	case ErrBodyTooLarge:
		c.tooLarge.Add(1)
	default:
		c.traps.Add(1)
	}
}

// flushOutput logs what the guest wrote to stdout/stderr, at most
// MaxLogBytes per invocation.
func (inst *instance) flushOutput(phase string) {
	if len(inst.out.Bytes()) == 0 {
		return
	}
	inst.fn.log.LogAttrs(context.Background(), slog.LevelInfo, "guest output", inst.logAttrs(
		slog.String("phase", phase),
		slog.String("output", string(inst.out.Bytes())),
		slog.Bool("truncated", inst.out.Truncated()))...)
	inst.out.Reset()
}

// Ensure the per-invocation writer satisfies what WASI needs.
var _ io.Writer = (*limits.CappedBuffer)(nil)

// fetchHandle is one open response of edged.fetch.
type fetchHandle struct {
	resp *http.Response
	body io.ReadCloser
	eof  bool
}

func (h *fetchHandle) close() {
	if h.body != nil {
		_ = h.body.Close()
	}
}
