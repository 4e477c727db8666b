package wasmrw

import "fmt"

// DataSegment is an active data segment with a constant offset into memory 0.
type DataSegment struct {
	Offset uint32
	Bytes  []byte // aliases the input module
}

// StripData removes the active data segments from a module and returns them,
// so that the host can lay them into memory itself, or not at all when it
// restores a snapshot that already holds them. A Go guest has tens of
// thousands of segments, and applying them dominates wazero's instantiation;
// a memcpy per segment from a slice is several times cheaper, and nothing at
// all with a snapshot.
//
// It strips only what it can do safely: every segment must be active, target
// memory 0 and have an i32.const offset, and the module must have no data
// count section (which any module using memory.init or data.drop carries)
// and no start section (wazero runs the start function inside instantiation,
// before the host could lay the segments out). Otherwise it returns
// ok == false and the module unchanged. Malformed input
// returns an error. The returned segments alias wasm.
func StripData(wasm []byte) (stripped []byte, segs []DataSegment, ok bool, err error) {
	secs, err := split(wasm)
	if err != nil {
		return nil, nil, false, err
	}
	dataAt := -1
	for i, s := range secs {
		switch s.id {
		case secDataCount, secStart:
			return wasm, nil, false, nil
		case secData:
			dataAt = i
		}
	}
	if dataAt < 0 {
		return wasm, nil, false, nil
	}
	r := &reader{buf: secs[dataAt].data}
	n := r.count(3)
	segs = make([]DataSegment, 0, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.u32()
		if flags != 0 { // passive, or an explicit memory index
			return wasm, nil, false, nil
		}
		if op := r.byte(); op != 0x41 { // i32.const
			return wasm, nil, false, nil
		}
		off := r.sleb(32)
		if end := r.byte(); end != 0x0b {
			return wasm, nil, false, nil
		}
		size := r.u32()
		b := r.bytes(int(size))
		if r.err != nil {
			break
		}
		segs = append(segs, DataSegment{Offset: uint32(int32(off)), Bytes: b})
	}
	if r.err == nil && !r.eof() {
		r.fail("%w: trailing bytes", ErrMalformed)
	}
	if r.err != nil {
		return nil, nil, false, fmt.Errorf("section %d: %w", secData, r.err)
	}
	out := make([]byte, 0, len(wasm))
	out = append(out, header...)
	for i, s := range secs {
		if i != dataAt {
			out = appendSection(out, s.id, s.data)
		}
	}
	return out, segs, true, nil
}

// HasStart reports whether the module has a start section.
func HasStart(wasm []byte) (bool, error) {
	secs, err := split(wasm)
	if err != nil {
		return false, err
	}
	for _, s := range secs {
		if s.id == secStart {
			return true, nil
		}
	}
	return false, nil
}
