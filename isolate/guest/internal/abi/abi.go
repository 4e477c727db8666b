package abi

import "errors"

// ErrMalformed is returned by the decoders when a buffer does not follow the
// encoding it is declared to hold (a missing NUL terminator, an odd number of
// strings in a pair list, or a count that disagrees with the content).
var ErrMalformed = errors.New("malformed encoding")

// Header kinds of the http-wasm handler ABI (first parameter of the header
// functions).
const (
	HeaderKindRequest          int32 = 0
	HeaderKindResponse         int32 = 1
	HeaderKindRequestTrailers  int32 = 2
	HeaderKindResponseTrailers int32 = 3
)

// Body kinds of the http-wasm handler ABI (first parameter of read_body and
// write_body).
const (
	BodyKindRequest  int32 = 0
	BodyKindResponse int32 = 1
)

// SplitCountLen splits a count_len result (get_header_names,
// get_header_values): the count of strings in the upper 32 bits, the encoded
// length in bytes, NUL terminators included, in the lower 32 bits.
func SplitCountLen(v uint64) (count, n uint32) {
	return uint32(v >> 32), uint32(v)
}

// SplitEOFLen splits an eof_len result (read_body, fetch_read): eof is true
// when the upper 32 bits are non-zero; n is the count of bytes read. A
// negative fetch_read result is an error code, not an eof_len; callers check
// for it first with FetchReadError.
func SplitEOFLen(v uint64) (eof bool, n uint32) {
	return v>>32 != 0, uint32(v)
}

// CtxNext packs the result of handle_request: the request context the host
// hands back to handle_response in the upper 32 bits, next (1 to continue to
// the upstream, 0 when the guest wrote the response) in the lower 32 bits.
func CtxNext(ctx uint32, next bool) uint64 {
	v := uint64(ctx) << 32
	if next {
		v |= 1
	}
	return v
}

// AppendList appends each string followed by a NUL byte: the encoding of
// get_header_names and get_header_values. It does not check that the strings
// contain no NUL byte; callers check with ValidString where input is untrusted.
func AppendList(dst []byte, list ...string) []byte {
	for _, s := range list {
		dst = append(dst, s...)
		dst = append(dst, 0)
	}
	return dst
}

// AppendPair appends name\0value\0: one entry of the pair encoding used by
// edged.fetch, edged.fetch_headers and edged.log_fields. Like AppendList, it
// does not check for NUL bytes.
func AppendPair(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, 0)
	dst = append(dst, value...)
	return append(dst, 0)
}

// ParseList decodes a NUL-terminated list of count strings, calling fn for
// each in order. count is the value the host returned in count_len; a
// mismatch, or bytes after the last NUL, is ErrMalformed. fn receives a
// slice of b: copy it to keep it.
func ParseList(b []byte, count uint32, fn func(s []byte)) error {
	var seen uint32
	for len(b) > 0 {
		i := indexNUL(b)
		if i < 0 {
			return ErrMalformed
		}
		seen++
		if seen > count {
			return ErrMalformed
		}
		fn(b[:i])
		b = b[i+1:]
	}
	if seen != count {
		return ErrMalformed
	}
	return nil
}

// ParsePairs decodes a name\0value\0... list, calling fn for each pair in
// order. An unterminated string or a name without a value is ErrMalformed.
// fn receives slices of b: copy them to keep them.
func ParsePairs(b []byte, fn func(name, value []byte)) error {
	for len(b) > 0 {
		i := indexNUL(b)
		if i < 0 {
			return ErrMalformed
		}
		name := b[:i]
		b = b[i+1:]
		j := indexNUL(b)
		if j < 0 {
			return ErrMalformed
		}
		fn(name, b[:j])
		b = b[j+1:]
	}
	return nil
}

// ValidString reports whether s can be carried in a NUL-terminated encoding,
// that is, whether it contains no NUL byte.
func ValidString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return false
		}
	}
	return true
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}
