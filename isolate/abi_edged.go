package isolate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/edged/edged/internal/fieldname"
	"github.com/edged/edged/limits"
)

// The edged extension host module, version 2 (version 1 plus publish).
// docs/abi.md is its reference; keep the two in step.
const (
	edgedModule     = "edged"
	edgedABIVersion = 2
)

// Error codes returned to guests by fetch and its companions, and by publish
// (which adds publishErrUnavailable and publishErrFailed, publish.go).
const (
	fetchErrDenied         = -1
	fetchErrBudget         = -2
	fetchErrTimeout        = -3
	fetchErrTooLarge       = -4
	fetchErrNetwork        = -5
	fetchErrInvalid        = -6
	fetchErrBadHandle      = -7
	fetchErrTooManyHandles = -8
)

// Bounds on what a guest may pass to fetch.
const (
	maxFetchURL     = 8 << 10
	maxFetchHeaders = 64 << 10
)

// isHopByHop reports whether name is a connection-level header (RFC 9110).
func isHopByHop(name []byte) bool {
	for _, h := range []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade"} {
		if fieldname.EqualBytes(name, []byte(h)) {
			return true
		}
	}
	return false
}

func (r *Runtime) instantiateEdged(ctx context.Context) error {
	return r.instantiateHost(ctx, edgedModule, []hostFunc{
		{"abi_version", eABIVersion, nil, []api.ValueType{i32}},
		{"secret_get", eSecretGet, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
		{"log_fields", eLogFields, []api.ValueType{i32, i32, i32, i32, i32}, nil},
		{"fetch", eFetch, []api.ValueType{i32, i32, i32, i32, i32, i32, i32, i32}, []api.ValueType{i32}},
		{"fetch_status", eFetchStatus, []api.ValueType{i32}, []api.ValueType{i32}},
		{"fetch_headers", eFetchHeaders, []api.ValueType{i32, i32, i32}, []api.ValueType{i32}},
		{"fetch_read", eFetchRead, []api.ValueType{i32, i32, i32}, []api.ValueType{i64}},
		{"fetch_close", eFetchClose, []api.ValueType{i32}, nil},
		{"publish", ePublish, []api.ValueType{i32, i32, i32, i32, i32, i32}, []api.ValueType{i32}},
	})
}

func eABIVersion(_ *instance, stack []uint64) { stack[0] = edgedABIVersion }

func eSecretGet(inst *instance, stack []uint64) {
	name := inst.bytes(uint32(stack[0]), uint32(stack[1]))
	v, ok := inst.fn.opts.Secrets[string(name)]
	if h := inst.hostCalls(); h != nil && h.Secret != nil {
		h.Secret(string(name), ok)
	}
	if !ok {
		stack[0] = uint64(uint32(0xffffffff)) // -1: unknown or not granted, on purpose the same
		return
	}
	stack[0] = uint64(inst.writeIfFits(uint32(stack[2]), uint32(stack[3]), v))
}

// maxLogRecord caps one guest log record (message and fields).
const maxLogRecord = 16 << 10

func eLogFields(inst *instance, stack []uint64) {
	lvl, ok := logLevel(uint32(stack[0]))
	msg := inst.bytes(uint32(stack[1]), uint32(stack[2]))
	fields := inst.bytes(uint32(stack[3]), uint32(stack[4]))
	if !ok || !inst.fn.log.Enabled(context.Background(), lvl) || !inst.chargeLog(len(msg)+len(fields)) {
		return
	}
	if len(msg) > maxLogRecord {
		msg = msg[:maxLogRecord]
	}
	if len(fields) > maxLogRecord-len(msg) {
		fields = fields[:maxLogRecord-len(msg)]
	}
	// Guest keys live in their own group so they cannot pose as the host's
	// (function, route, trace id).
	var guest []any
	if validPairs(fields) {
		for k, v := range nulPairs(fields) {
			guest = append(guest, slog.String(string(k), string(v)))
		}
	} else {
		guest = append(guest, slog.String("fields", string(fields)))
	}
	inst.fn.log.LogAttrs(context.Background(), lvl, string(msg),
		inst.logAttrs(slog.String("source", "guest"), slog.Group("guest", guest...))...)
}

// validPairs reports whether b is a complete "k\0v\0..." list.
func validPairs(b []byte) bool {
	return bytes.Count(b, []byte{0})%2 == 0 && (len(b) == 0 || b[len(b)-1] == 0)
}

// nulPairs iterates over "k\0v\0k\0v\0"; a trailing odd element is ignored.
func nulPairs(b []byte) func(yield func(k, v []byte) bool) {
	return func(yield func(k, v []byte) bool) {
		for len(b) > 0 {
			i := bytes.IndexByte(b, 0)
			if i < 0 {
				return
			}
			k := b[:i]
			b = b[i+1:]
			j := bytes.IndexByte(b, 0)
			if j < 0 {
				return
			}
			v := b[:j]
			b = b[j+1:]
			if !yield(k, v) {
				return
			}
		}
	}
}

func ret32(stack []uint64, v int32) { stack[0] = uint64(uint32(v)) }

func eFetch(inst *instance, stack []uint64) {
	slot := slices.Index(inst.fetches[:], nil)
	if slot < 0 {
		ret32(stack, fetchErrTooManyHandles)
		return
	}
	req, cancel, code := inst.fetchRequest(stack)
	if code != 0 {
		ret32(stack, code)
		return
	}
	resp, err := inst.roundTrip(req)
	if err != nil {
		cancel()
		code := inst.fetchError(err)
		inst.fn.log.LogAttrs(context.Background(), slog.LevelDebug, "guest fetch failed", inst.logAttrs(
			slog.String("url", req.URL.Redacted()), slog.String("code", fetchErrorName(code)), slog.Any("error", err))...)
		ret32(stack, code)
		return
	}
	inst.fetches[slot] = &fetchHandle{resp: resp, body: cancelOnClose{resp.Body, cancel}}
	ret32(stack, int32(slot+1))
}

// fetchRequest builds the request of a fetch call from the guest's
// arguments (method, URL, NUL-separated header pairs, body), every byte of
// them checked, bounded by the invocation's deadline. It returns a fetch
// error code instead when they are invalid or the body is over the limit;
// cancel must be called once the answer is read.
func (inst *instance) fetchRequest(stack []uint64) (_ *http.Request, cancel context.CancelFunc, code int32) {
	f := inst.fn
	method := inst.bytes(uint32(stack[0]), uint32(stack[1]))
	rawURL := inst.bytes(uint32(stack[2]), uint32(stack[3]))
	hdrs := inst.bytes(uint32(stack[4]), uint32(stack[5]))
	body := inst.bytes(uint32(stack[6]), uint32(stack[7]))
	if len(method) == 0 {
		method = []byte(http.MethodGet)
	}
	if len(method) > 64 || !isToken(method) || len(rawURL) > maxFetchURL {
		return nil, nil, fetchErrInvalid
	}
	u, err := url.Parse(string(rawURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fetchErrInvalid
	}
	if int64(len(body)) > int64(f.policy.Egress.MaxSubrequestBody) {
		return nil, nil, fetchErrTooLarge
	}
	if len(hdrs) > maxFetchHeaders || !validPairs(hdrs) {
		return nil, nil, fetchErrInvalid
	}
	callCtx := inst.callCtx
	if callCtx == nil {
		callCtx = context.Background()
	}
	ctx, cancel := context.WithDeadline(callCtx, f.rt.epoch.Add(time.Duration(inst.deadline)))
	req, err := http.NewRequestWithContext(ctx, string(method), u.String(), bytes.NewReader(slices.Clone(body)))
	if err != nil {
		cancel()
		return nil, nil, fetchErrInvalid
	}
	for k, v := range nulPairs(hdrs) {
		if len(k) == 0 || !isToken(k) || !validFieldValue(v) {
			cancel()
			return nil, nil, fetchErrInvalid
		}
		switch {
		case fieldname.EqualBytes(k, []byte("Host")):
			req.Host = string(v)
		case isHopByHop(k):
			// The transport manages the connection; a guest does not.
		default:
			req.Header.Add(string(k), string(v))
		}
	}
	return req, cancel, 0
}

// roundTrip sends a fetch's request through the function's egress client (or
// the invocation's HostCalls.Fetch, for record and replay), traced, holding
// no execution slot meanwhile: a guest waiting on the network does not use a
// core.
func (inst *instance) roundTrip(req *http.Request) (*http.Response, error) {
	f := inst.fn
	var traced func(int, error)
	if t := inst.trace; t != nil && t.Fetch != nil {
		traced = t.Fetch(req)
	}
	inst.offCore()
	var resp *http.Response
	var err error
	if h := inst.hostCalls(); h != nil && h.Fetch != nil {
		resp, err = h.Fetch(req.Context(), req, func(ctx context.Context, req *http.Request) (*http.Response, error) {
			return f.egress.Do(ctx, req, inst.budget)
		})
		if resp == nil && err == nil {
			err = errors.New("HostCalls.Fetch returned no response and no error")
		}
	} else {
		resp, err = f.egress.Do(req.Context(), req, inst.budget)
	}
	inst.onCore()
	if traced != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		traced(status, err)
	}
	return resp, err
}

// fetchError maps an egress error to the guest's error code, counting limit
// breaches.
func (inst *instance) fetchError(err error) int32 {
	var nerr net.Error
	switch {
	case errors.Is(err, limits.ErrEgressDenied):
		inst.fn.c.denied.Add(1)
		return fetchErrDenied
	case errors.Is(err, limits.ErrSubrequestBudget):
		inst.fn.c.budget.Add(1)
		return fetchErrBudget
	case errors.Is(err, limits.ErrBodyTooLarge):
		return fetchErrTooLarge
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return fetchErrTimeout
	}
	return fetchErrNetwork
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

func (inst *instance) fetchHandle(h uint32) *fetchHandle {
	if h == 0 || h > maxFetchHandles {
		return nil
	}
	return inst.fetches[h-1]
}

func eFetchStatus(inst *instance, stack []uint64) {
	h := inst.fetchHandle(uint32(stack[0]))
	if h == nil {
		ret32(stack, fetchErrBadHandle)
		return
	}
	ret32(stack, int32(h.resp.StatusCode))
}

func eFetchHeaders(inst *instance, stack []uint64) {
	h := inst.fetchHandle(uint32(stack[0]))
	if h == nil {
		ret32(stack, fetchErrBadHandle)
		return
	}
	var enc []byte
	keys := make([]string, 0, len(h.resp.Header))
	for k := range h.resp.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h.resp.Header[k] {
			enc = append(enc, k...)
			enc = append(enc, 0)
			enc = append(enc, v...)
			enc = append(enc, 0)
		}
	}
	stack[0] = uint64(inst.writeIfFits(uint32(stack[1]), uint32(stack[2]), enc))
}

func eFetchRead(inst *instance, stack []uint64) {
	h := inst.fetchHandle(uint32(stack[0]))
	if h == nil {
		stack[0] = i64Code(fetchErrBadHandle)
		return
	}
	buf, limit := uint32(stack[1]), uint32(stack[2])
	if int32(limit) <= 0 {
		stack[0] = i64Code(fetchErrInvalid)
		return
	}
	if h.eof {
		stack[0] = 1 << 32
		return
	}
	dst := inst.bytes(buf, limit)
	for {
		n, err := h.body.Read(dst)
		if err == io.EOF {
			h.eof = true
		} else if err != nil {
			stack[0] = i64Code(inst.fetchError(err))
			return
		}
		if n > 0 || h.eof {
			stack[0] = boolBit(h.eof)<<32 | uint64(n)
			return
		}
	}
}

func eFetchClose(inst *instance, stack []uint64) {
	if h := inst.fetchHandle(uint32(stack[0])); h != nil {
		h.close()
		inst.fetches[uint32(stack[0])-1] = nil
	}
}

// i64Code sign-extends an error code for an i64 result.
func i64Code(code int32) uint64 { return uint64(int64(code)) }

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// String renders the ABI's error codes for logs and docs.
func fetchErrorName(code int32) string {
	switch code {
	case fetchErrDenied:
		return "EGRESS_DENIED"
	case fetchErrBudget:
		return "BUDGET"
	case fetchErrTimeout:
		return "TIMEOUT"
	case fetchErrTooLarge:
		return "TOO_LARGE"
	case fetchErrNetwork:
		return "NETWORK"
	case fetchErrInvalid:
		return "INVALID"
	case fetchErrBadHandle:
		return "BAD_HANDLE"
	case fetchErrTooManyHandles:
		return "TOO_MANY_HANDLES"
	case publishErrUnavailable:
		return "UNAVAILABLE"
	case publishErrFailed:
		return "PUBLISH_FAILED"
	}
	return fmt.Sprintf("code %d", code)
}
