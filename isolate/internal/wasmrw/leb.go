package wasmrw

import (
	"fmt"
	"unicode/utf8"
)

// reader decodes the wasm binary encoding from buf. Errors are sticky: after
// the first failure every method returns zero values and err keeps the first
// cause, so decoding loops only need to test err once per iteration. Callers
// must still check err before trusting any value, and every loop driven by a
// decoded count must stop when err is set (the count itself may be garbage).
type reader struct {
	buf []byte
	pos int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("offset %d: %w", r.pos, fmt.Errorf(format, args...))
	}
}

func (r *reader) eof() bool { return r.err != nil || r.pos >= len(r.buf) }

func (r *reader) remaining() int {
	if r.err != nil {
		return 0
	}
	return len(r.buf) - r.pos
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.buf) {
		r.fail("%w: unexpected end", ErrMalformed)
		return 0
	}
	b := r.buf[r.pos]
	r.pos++
	return b
}

func (r *reader) peek() byte {
	if r.err != nil || r.pos >= len(r.buf) {
		return 0
	}
	return r.buf[r.pos]
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf)-r.pos {
		r.fail("%w: unexpected end (need %d bytes)", ErrMalformed, n)
		return nil
	}
	b := r.buf[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return b
}

// uleb decodes an unsigned LEB128 of at most bits bits, rejecting encodings
// longer than ceil(bits/7) bytes and set bits beyond the width: both are
// malformed per the spec, and accepting them would let a value we rewrite
// differ from the value the engine reads.
func (r *reader) uleb(bits uint) uint64 {
	maxBytes := int((bits + 6) / 7)
	var v uint64
	var shift uint
	for i := 0; ; i++ {
		b := r.byte()
		if r.err != nil {
			return 0
		}
		if i == maxBytes-1 {
			used := bits - shift
			if b&0x80 != 0 || (used < 7 && b&(0x7f&^(1<<used-1)) != 0) {
				r.fail("%w: integer too large for %d bits", ErrMalformed, bits)
				return 0
			}
		}
		v |= uint64(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			return v
		}
	}
}

// sleb decodes a signed LEB128 of at most bits bits with the same strictness
// as uleb: the unused high bits of the last byte must be sign extension.
func (r *reader) sleb(bits uint) int64 {
	maxBytes := int((bits + 6) / 7)
	var v int64
	var shift uint
	for i := 0; ; i++ {
		b := r.byte()
		if r.err != nil {
			return 0
		}
		if i == maxBytes-1 {
			used := bits - shift
			if b&0x80 != 0 {
				r.fail("%w: integer too large for %d bits", ErrMalformed, bits)
				return 0
			}
			if used < 7 {
				mask := byte(0x7f) &^ (1<<(used-1) - 1)
				if x := b & mask; x != 0 && x != mask {
					r.fail("%w: integer too large for %d bits", ErrMalformed, bits)
					return 0
				}
			}
		}
		v |= int64(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			if shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}

func (r *reader) u32() uint32 { return uint32(r.uleb(32)) }

// count decodes a vector length and checks it against the bytes left, each
// element taking at least minSize bytes, so that a forged count cannot make a
// caller preallocate or loop far beyond the input.
func (r *reader) count(minSize int) uint32 {
	n := r.u32()
	if r.err == nil && uint64(n)*uint64(minSize) > uint64(r.remaining()) {
		r.fail("%w: vector length %d exceeds the remaining %d bytes", ErrMalformed, n, r.remaining())
		return 0
	}
	return n
}

// name decodes a length-prefixed UTF-8 string.
func (r *reader) name() []byte {
	n := r.u32()
	b := r.bytes(int(n))
	if r.err == nil && !utf8.Valid(b) {
		r.fail("%w: name is not valid UTF-8", ErrMalformed)
		return nil
	}
	return b
}

func appendU32(dst []byte, v uint32) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func appendS64(dst []byte, v int64) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

func appendName(dst []byte, s string) []byte {
	dst = appendU32(dst, uint32(len(s)))
	return append(dst, s...)
}
