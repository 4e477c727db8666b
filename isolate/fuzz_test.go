package isolate

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
)

// FuzzHeader drives Header with random operations and checks it against a
// plain slice model: order kept, names compared case-insensitively.
func FuzzHeader(f *testing.F) {
	f.Add([]byte("\x00Aa\x00b\x01aA\x00c\x02a\x00"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		var h Header
		type kv struct{ k, v string }
		var model []kv
		// ASCII folding only, as for HTTP field names: bytes.ToLower would
		// turn invalid UTF-8 into U+FFFD and call distinct bytes equal.
		fold := func(s string) string {
			b := []byte(s)
			for i, c := range b {
				if 'A' <= c && c <= 'Z' {
					b[i] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
		for len(ops) >= 3 {
			op := ops[0] % 4
			k := string(ops[1:2])
			v := string(ops[2:3])
			ops = ops[3:]
			switch op {
			case 0:
				h.AddString(k, v)
				model = append(model, kv{k, v})
			case 1:
				h.SetString(k, v)
				i := -1
				var next []kv
				for j, e := range model {
					if fold(e.k) == fold(k) {
						if i < 0 {
							i = j
							next = append(next, kv{e.k, v})
						}
						continue
					}
					next = append(next, e)
				}
				if i < 0 {
					next = append(next, kv{k, v})
				}
				model = next
			case 2:
				h.DelString(k)
				var next []kv
				for _, e := range model {
					if fold(e.k) != fold(k) {
						next = append(next, e)
					}
				}
				model = next
			case 3:
				h.Reset()
				model = nil
			}
		}
		if h.Len() != len(model) {
			t.Fatalf("Len() = %d, want %d", h.Len(), len(model))
		}
		for i, e := range model {
			k, v := h.At(i)
			if string(k) != e.k || string(v) != e.v {
				t.Fatalf("At(%d) = %q: %q, want %q: %q", i, k, v, e.k, e.v)
			}
		}
	})
}

// FuzzNulPairs checks the decoder of the ABI's "k\0v\0" lists: it never
// panics and re-encoding what it yields gives back a prefix of a valid input.
func FuzzNulPairs(f *testing.F) {
	f.Add([]byte("a\x00b\x00c\x00d\x00"))
	f.Add([]byte("a\x00b"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var out []byte
		for k, v := range nulPairs(b) {
			out = append(append(append(append(out, k...), 0), v...), 0)
		}
		if !bytes.HasPrefix(b, out) {
			t.Fatalf("nulPairs(%q) re-encodes to %q, not a prefix", b, out)
		}
		if validPairs(b) && !bytes.Equal(out, b) {
			t.Fatalf("validPairs(%q) but pairs re-encode to %q", b, out)
		}
	})
}

// FuzzGuestCalls feeds the http-wasm host functions arbitrary arguments, as
// a hostile guest would: each call must either work or abort the guest with
// an ABI error, never crash the host or write outside guest memory.
func FuzzGuestCalls(f *testing.F) {
	rt := newRuntime(f, RuntimeOptions{})
	fn := load(f, rt, tdBody, FunctionOptions{})
	f.Add(uint8(9), []byte{0, 0, 0, 0, 1, 0, 0, 0, 0, 4, 0, 0})
	f.Add(uint8(12), []byte{1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 0})
	hostFns := []func(*instance, []uint64){
		hEnableFeatures, hGetConfig, hLogEnabled, hLog, hGetMethod, hSetMethod, hGetURI, hSetURI,
		hGetProtocol, hGetHeaderNames, hGetHeaderValues, hSetHeaderValue, hAddHeaderValue,
		hRemoveHeader, hReadBody, hWriteBody, hGetStatusCode, hSetStatusCode, hGetSourceAddr,
		eSecretGet, eLogFields, eFetchStatus, eFetchHeaders, eFetchRead, eFetchClose,
	}
	f.Fuzz(func(t *testing.T, which uint8, args []byte) {
		inst, err := fn.newInstance(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer inst.close(context.Background())
		req := newRequest("POST", "/x", "body", "A", "1", "B", "2")
		var resp Response
		resp.Reset()
		inst.begin(context.Background(), req, &resp)
		inst.phase = phaseRequest
		defer inst.end()
		stack := make([]uint64, 8)
		for i := 0; i+4 <= len(args) && i/4 < len(stack); i += 4 {
			stack[i/4] = uint64(binary.LittleEndian.Uint32(args[i:]))
		}
		func() {
			defer func() { _ = recover() }() // an aborted guest is a valid outcome
			hostFns[int(which)%len(hostFns)](inst, stack)
		}()
		if len(resp.Body) > int(fn.policy.MaxResponseBody) || resp.Header.Len() > maxHeaderFields {
			t.Fatalf("limits broken: body %d, header fields %d", len(resp.Body), resp.Header.Len())
		}
	})
}
