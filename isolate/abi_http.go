package isolate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tetratelabs/wazero/api"

	"github.com/edged/edged/internal/fieldname"
)

// The http-wasm handler ABI (https://http-wasm.io/http-handler-abi/), host
// side. Guests written for Traefik or Dapr run unchanged. Every pointer and
// length comes from an untrusted guest: out-of-range memory, unknown kinds and
// malformed header bytes abort the guest (ErrTrap) instead of reaching the
// client or the upstream.

const httpHandlerModule = "http_handler"

// Header and body kinds, and features, as numbered by the ABI.
const (
	kindRequest         = 0
	kindResponse        = 1
	kindRequestTrailer  = 2
	kindResponseTrailer = 3

	featureBufferRequest  = 1
	featureBufferResponse = 2
	featureTrailers       = 4
	// featuresSupported leaves out trailers: neither the daemon's fasthttp
	// path nor the upstream client carries them end to end, so edged does
	// not claim them (docs/abi.md, "Trailers").
	featuresSupported = featureBufferRequest | featureBufferResponse
)

// Bounds on what a guest may put into headers: the client and the upstream
// must never receive more than a proxy would accept.
const (
	maxHeaderField  = 64 << 10
	maxHeaderFields = 1024
)

// errABI marks a guest that broke the ABI's rules; it surfaces as ErrTrap.
var errABI = errors.New("guest violated the http-wasm ABI")

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

type hostFunc struct {
	name    string
	fn      func(inst *instance, stack []uint64)
	params  []api.ValueType
	results []api.ValueType
}

// instantiateHost builds a host module whose functions find their instance
// through the call's context.
func (r *Runtime) instantiateHost(ctx context.Context, module string, fns []hostFunc) error {
	b := r.rt.NewHostModuleBuilder(module)
	for _, h := range fns {
		fn := h.fn
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
				inst := instanceFrom(ctx)
				if inst == nil {
					panic(fmt.Errorf("%w: host function called outside an instance", errABI))
				}
				if inst.mem == nil {
					// A start section runs inside instantiation, before
					// newInstance has the module to take its memory from.
					inst.mem = m.Memory()
					if inst.mem == nil {
						panic(fmt.Errorf("%w: module has no memory", errABI))
					}
				}
				fn(inst, stack)
			}), h.params, h.results).
			Export(h.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate %s: %w", module, err)
	}
	return nil
}

func (r *Runtime) instantiateHTTPHandler(ctx context.Context) error {
	return r.instantiateHost(ctx, httpHandlerModule, []hostFunc{
		{"enable_features", hEnableFeatures, []api.ValueType{i32}, []api.ValueType{i32}},
		{"get_config", hGetConfig, []api.ValueType{i32, i32}, []api.ValueType{i32}},
		{"log_enabled", hLogEnabled, []api.ValueType{i32}, []api.ValueType{i32}},
		{"log", hLog, []api.ValueType{i32, i32, i32}, nil},
		{"get_method", hGetMethod, []api.ValueType{i32, i32}, []api.ValueType{i32}},
		{"set_method", hSetMethod, []api.ValueType{i32, i32}, nil},
		{"get_uri", hGetURI, []api.ValueType{i32, i32}, []api.ValueType{i32}},
		{"set_uri", hSetURI, []api.ValueType{i32, i32}, nil},
		{"get_protocol_version", hGetProtocol, []api.ValueType{i32, i32}, []api.ValueType{i32}},
		{"get_header_names", hGetHeaderNames, []api.ValueType{i32, i32, i32}, []api.ValueType{i64}},
		{"get_header_values", hGetHeaderValues, []api.ValueType{i32, i32, i32, i32, i32}, []api.ValueType{i64}},
		{"set_header_value", hSetHeaderValue, []api.ValueType{i32, i32, i32, i32, i32}, nil},
		{"add_header_value", hAddHeaderValue, []api.ValueType{i32, i32, i32, i32, i32}, nil},
		{"remove_header", hRemoveHeader, []api.ValueType{i32, i32, i32}, nil},
		{"read_body", hReadBody, []api.ValueType{i32, i32, i32}, []api.ValueType{i64}},
		{"write_body", hWriteBody, []api.ValueType{i32, i32, i32}, nil},
		{"get_status_code", hGetStatusCode, nil, []api.ValueType{i32}},
		{"set_status_code", hSetStatusCode, []api.ValueType{i32}, nil},
		{"get_source_addr", hGetSourceAddr, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	})
}

// --- guest memory access ---------------------------------------------------

// bytes returns a view of guest memory; it aborts the guest when the range is
// outside its memory. The view is valid until the guest runs again.
func (inst *instance) bytes(ptr, n uint32) []byte {
	b, ok := inst.mem.Read(ptr, n)
	if !ok {
		panic(fmt.Errorf("%w: memory range [%d, %d+%d) out of bounds", errABI, ptr, ptr, n))
	}
	return b
}

// writeIfFits copies v to guest memory at buf when it fits in limit and
// returns len(v), the ABI's convention for every get_* function.
func (inst *instance) writeIfFits(buf, limit uint32, v []byte) uint32 {
	if uint32(len(v)) <= limit && len(v) > 0 {
		copy(inst.bytes(buf, uint32(len(v))), v)
	}
	return uint32(len(v))
}

func (inst *instance) request() *Request {
	if inst.req == nil {
		panic(fmt.Errorf("%w: no request in flight (called during initialisation?)", errABI))
	}
	return inst.req
}

func (inst *instance) response() *Response {
	if inst.resp == nil {
		panic(fmt.Errorf("%w: no response in flight (called during initialisation?)", errABI))
	}
	return inst.resp
}

// header returns the header of a kind; writable reports whether the guest may
// change it in the current phase (requests are sent once next was called).
// Trailer kinds return nil: edged does not support trailers, and the spec
// has such a host list none and trap on any change.
func (inst *instance) header(kind uint32) (h *Header, writable bool) {
	switch kind {
	case kindRequest:
		return &inst.request().Header, inst.phase == phaseRequest
	case kindResponse:
		return &inst.response().Header, true
	case kindRequestTrailer, kindResponseTrailer:
		return nil, false
	}
	panic(fmt.Errorf("%w: unknown header kind %d", errABI, kind))
}

// --- functions -------------------------------------------------------------

// hEnableFeatures enables the requested features that edged supports and
// answers with every feature now enabled, as the reference host does:
// called during initialisation (_initialize, _start or a start section) they
// hold for every request of the function; called while serving, for the
// current request only, on top of those. A guest that enables nothing gets
// 0. Buffering is what edged does anyway, so enabling changes nothing else.
func hEnableFeatures(inst *instance, stack []uint64) {
	want := uint32(stack[0]) & featuresSupported
	if inst.phase == phaseInit {
		inst.initFeatures |= want
		inst.features = inst.initFeatures
	} else {
		inst.features |= want
	}
	stack[0] = uint64(inst.features)
}

func hGetConfig(inst *instance, stack []uint64) {
	stack[0] = uint64(inst.writeIfFits(uint32(stack[0]), uint32(stack[1]), inst.fn.opts.Config))
}

// logLevel maps the ABI's levels (-1 debug .. 2 error, 3 none) to slog.
func logLevel(v uint32) (slog.Level, bool) {
	switch int32(v) {
	case -1:
		return slog.LevelDebug, true
	case 0:
		return slog.LevelInfo, true
	case 1:
		return slog.LevelWarn, true
	case 2:
		return slog.LevelError, true
	}
	return 0, false
}

func hLogEnabled(inst *instance, stack []uint64) {
	lvl, ok := logLevel(uint32(stack[0]))
	if ok && inst.fn.log.Enabled(context.Background(), lvl) {
		stack[0] = 1
		return
	}
	stack[0] = 0
}

func hLog(inst *instance, stack []uint64) {
	lvl, ok := logLevel(uint32(stack[0]))
	msg := inst.bytes(uint32(stack[1]), uint32(stack[2]))
	if !ok || !inst.chargeLog(len(msg)) {
		return
	}
	inst.fn.log.LogAttrs(context.Background(), lvl, string(msg), inst.logAttrs(slog.String("source", "guest"))...)
}

// chargeLog counts n bytes of guest logging against MaxLogBytes and reports
// whether they may still be written.
func (inst *instance) chargeLog(n int) bool {
	inst.logBytes += int64(n)
	return inst.logBytes <= int64(inst.fn.policy.MaxLogBytes)
}

func hGetMethod(inst *instance, stack []uint64) {
	stack[0] = uint64(inst.writeIfFits(uint32(stack[0]), uint32(stack[1]), inst.request().Method))
}

func hSetMethod(inst *instance, stack []uint64) {
	req := inst.request()
	if inst.phase != phaseRequest {
		panic(fmt.Errorf("%w: set_method after next", errABI))
	}
	m := inst.bytes(uint32(stack[0]), uint32(stack[1]))
	if len(m) == 0 || len(m) > 64 || !isToken(m) {
		panic(fmt.Errorf("%w: invalid method %q", errABI, m))
	}
	req.Method = append(req.Method[:0], m...)
}

func hGetURI(inst *instance, stack []uint64) {
	stack[0] = uint64(inst.writeIfFits(uint32(stack[0]), uint32(stack[1]), inst.request().URI))
}

func hSetURI(inst *instance, stack []uint64) {
	req := inst.request()
	if inst.phase != phaseRequest {
		panic(fmt.Errorf("%w: set_uri after next", errABI))
	}
	u := inst.bytes(uint32(stack[0]), uint32(stack[1]))
	if len(u) > maxHeaderField || !validURI(u) {
		panic(fmt.Errorf("%w: invalid uri %q", errABI, u))
	}
	req.URI = append(req.URI[:0], u...)
}

func hGetProtocol(inst *instance, stack []uint64) {
	p := inst.request().Protocol
	if len(p) == 0 {
		p = []byte("HTTP/1.1")
	}
	stack[0] = uint64(inst.writeIfFits(uint32(stack[0]), uint32(stack[1]), p))
}

func hGetHeaderNames(inst *instance, stack []uint64) {
	h, _ := inst.header(uint32(stack[0]))
	if h == nil {
		stack[0] = 0
		return
	}
	buf, limit := uint32(stack[1]), uint32(stack[2])
	// Names are listed once each, lowercase as the spec requires, in the
	// order of their first field, NUL-terminated.
	var count, size uint32
	for i := 0; i < h.Len(); i++ {
		name, _ := h.At(i)
		if firstOf(h, i, name) {
			count++
			size += uint32(len(name)) + 1
		}
	}
	if size <= limit && size > 0 {
		out := inst.bytes(buf, size)
		off := 0
		for i := 0; i < h.Len(); i++ {
			name, _ := h.At(i)
			if firstOf(h, i, name) {
				for _, c := range name {
					if 'A' <= c && c <= 'Z' {
						c += 'a' - 'A'
					}
					out[off] = c
					off++
				}
				out[off] = 0
				off++
			}
		}
	}
	stack[0] = uint64(count)<<32 | uint64(size)
}

// firstOf reports whether field i is the first one named name.
func firstOf(h *Header, i int, name []byte) bool {
	for j := 0; j < i; j++ {
		if n, _ := h.At(j); fieldname.EqualBytes(n, name) {
			return false
		}
	}
	return true
}

func hGetHeaderValues(inst *instance, stack []uint64) {
	h, _ := inst.header(uint32(stack[0]))
	name := inst.bytes(uint32(stack[1]), uint32(stack[2]))
	if h == nil {
		stack[0] = 0
		return
	}
	buf, limit := uint32(stack[3]), uint32(stack[4])
	var count, size uint32
	for i := 0; i < h.Len(); i++ {
		if n, v := h.At(i); fieldname.EqualBytes(n, name) {
			count++
			size += uint32(len(v)) + 1
		}
	}
	if size <= limit && size > 0 {
		out := inst.bytes(buf, size)
		off := 0
		for i := 0; i < h.Len(); i++ {
			if n, v := h.At(i); fieldname.EqualBytes(n, name) {
				off += copy(out[off:], v)
				out[off] = 0
				off++
			}
		}
	}
	stack[0] = uint64(count)<<32 | uint64(size)
}

// headerArgs decodes and validates (kind, name, name_len, value, value_len).
func (inst *instance) headerArgs(stack []uint64, withValue bool) (*Header, []byte, []byte) {
	h, writable := inst.header(uint32(stack[0]))
	if h == nil {
		panic(fmt.Errorf("%w: trailers are not supported (enable_features does not grant them)", errABI))
	}
	if !writable {
		panic(fmt.Errorf("%w: request headers cannot change after next", errABI))
	}
	name := inst.bytes(uint32(stack[1]), uint32(stack[2]))
	if len(name) == 0 || len(name) > maxHeaderField || !isToken(name) {
		panic(fmt.Errorf("%w: invalid header name %q", errABI, name))
	}
	var value []byte
	if withValue {
		value = inst.bytes(uint32(stack[3]), uint32(stack[4]))
		if len(value) > maxHeaderField || !validFieldValue(value) {
			panic(fmt.Errorf("%w: invalid value for header %q", errABI, name))
		}
		if h.Len() >= maxHeaderFields {
			panic(fmt.Errorf("%w: more than %d header fields", errABI, maxHeaderFields))
		}
	}
	return h, name, value
}

func hSetHeaderValue(inst *instance, stack []uint64) {
	h, name, value := inst.headerArgs(stack, true)
	h.Set(name, value)
}

func hAddHeaderValue(inst *instance, stack []uint64) {
	h, name, value := inst.headerArgs(stack, true)
	h.Add(name, value)
}

func hRemoveHeader(inst *instance, stack []uint64) {
	h, name, _ := inst.headerArgs(stack, false)
	h.Del(name)
}

func hReadBody(inst *instance, stack []uint64) {
	kind, buf, limit := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	var body []byte
	var off *int
	switch kind {
	case kindRequest:
		body, off = inst.request().Body, &inst.reqRead
	case kindResponse:
		body, off = inst.response().Body, &inst.respRead
	default:
		panic(fmt.Errorf("%w: unknown body kind %d", errABI, kind))
	}
	rest := body[min(*off, len(body)):]
	n := min(uint32(len(rest)), limit)
	if n > 0 {
		copy(inst.bytes(buf, n), rest[:n])
	}
	*off += int(n)
	var eof uint64
	if *off >= len(body) {
		eof = 1
	}
	stack[0] = eof<<32 | uint64(n)
}

func hWriteBody(inst *instance, stack []uint64) {
	kind := uint32(stack[0])
	b := inst.bytes(uint32(stack[1]), uint32(stack[2]))
	switch kind {
	case kindRequest:
		if inst.phase != phaseRequest {
			panic(fmt.Errorf("%w: request body cannot change after next", errABI))
		}
		req := inst.request()
		if !inst.reqWritten { // the first write replaces the client's body
			req.Body = req.Body[:0]
			inst.reqWritten = true
		}
		if int64(len(req.Body)+len(b)) > int64(inst.fn.policy.MaxRequestBody) {
			inst.interrupt = ErrBodyTooLarge
			panic(fmt.Errorf("%w: guest wrote a request body over %d bytes", ErrBodyTooLarge, inst.fn.policy.MaxRequestBody))
		}
		req.Body = append(req.Body, b...)
	case kindResponse:
		resp := inst.response()
		if inst.phase == phaseResponse && !inst.resWritten { // replaces the upstream's body
			resp.Body = resp.Body[:0]
			inst.resWritten = true
		}
		if int64(len(resp.Body)+len(b)) > int64(inst.fn.policy.MaxResponseBody) {
			inst.interrupt = ErrBodyTooLarge
			panic(fmt.Errorf("%w: guest wrote a response body over %d bytes", ErrBodyTooLarge, inst.fn.policy.MaxResponseBody))
		}
		resp.Body = append(resp.Body, b...)
	default:
		panic(fmt.Errorf("%w: unknown body kind %d", errABI, kind))
	}
}

func hGetStatusCode(inst *instance, stack []uint64) {
	stack[0] = uint64(uint32(inst.response().Status))
}

func hSetStatusCode(inst *instance, stack []uint64) {
	code := int32(stack[0])
	if code < 100 || code > 999 {
		panic(fmt.Errorf("%w: invalid status code %d", errABI, code))
	}
	inst.response().Status = int(code)
}

func hGetSourceAddr(inst *instance, stack []uint64) {
	stack[0] = uint64(inst.writeIfFits(uint32(stack[0]), uint32(stack[1]), inst.request().RemoteAddr))
}

// --- validation of guest-written protocol elements --------------------------

// isToken reports whether b is an RFC 9110 token (header names, methods).
func isToken(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
		switch c {
		case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
			return false
		}
	}
	return true
}

// validFieldValue refuses the bytes that would split or end a header line.
func validFieldValue(b []byte) bool {
	for _, c := range b {
		if c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// validURI accepts an origin-form target ("/path?q") or "*", no controls or
// spaces.
func validURI(b []byte) bool {
	if len(b) == 0 || (b[0] != '/' && !(len(b) == 1 && b[0] == '*')) {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
