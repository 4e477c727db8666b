package trace

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// Header names of W3C Trace Context.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// ID is a W3C trace-id: 16 bytes, not all zero when valid.
type ID [16]byte

// SpanID is a W3C parent-id / span-id: 8 bytes, not all zero when valid.
type SpanID [8]byte

// IsZero reports whether t is the invalid all-zero trace-id.
func (t ID) IsZero() bool { return t == ID{} }

// IsZero reports whether s is the invalid all-zero span-id.
func (s SpanID) IsZero() bool { return s == SpanID{} }

// String returns the 32 lowercase hex digits of t.
func (t ID) String() string { return hex.EncodeToString(t[:]) }

// String returns the 16 lowercase hex digits of s.
func (s SpanID) String() string { return hex.EncodeToString(s[:]) }

// NewID draws a random trace-id, never zero. math/rand/v2's global source is
// ChaCha8 per thread: unpredictable enough for identifiers that are not
// secrets, and a few nanoseconds without a lock.
func NewID() (t ID) {
	for t.IsZero() {
		binary.LittleEndian.PutUint64(t[:8], rand.Uint64())
		binary.LittleEndian.PutUint64(t[8:], rand.Uint64())
	}
	return t
}

// NewSpanID draws a random span-id, never zero, as NewID does.
func NewSpanID() (s SpanID) {
	for s.IsZero() {
		binary.LittleEndian.PutUint64(s[:], rand.Uint64())
	}
	return s
}

// FlagSampled is the sampled bit of a traceparent's trace-flags.
const FlagSampled = 0x01

// Trace Context limits (W3C Trace Context level 1, sections 3.2 and 3.3).
const (
	traceparentLen    = 55  // "00-" 32 hex "-" 16 hex "-" 2 hex
	maxTracestate     = 512 // bytes; longer values are dropped
	maxTracestateList = 32  // list members
)

// Context is a parsed W3C traceparent (and the tracestate beside it).
type Context struct {
	TraceID  ID
	ParentID SpanID
	Flags    byte
	// State is the tracestate header, empty when absent or invalid.
	State string
}

// Sampled reports the traceparent's sampled flag.
func (tc Context) Sampled() bool { return tc.Flags&FlagSampled != 0 }

// ParseTraceparent parses a traceparent header value. Version 00 must be
// exactly 55 bytes; a higher version may carry more fields after a dash, which
// are ignored (section 3.2.4: parse what version 00 defines). Version ff, upper
// case hex, and all-zero identifiers are invalid. ok is false for anything
// else: the caller starts a new trace.
func ParseTraceparent(v []byte) (tc Context, ok bool) {
	if len(v) < traceparentLen || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return tc, false
	}
	ver, ok1 := hexByte(v[0], v[1])
	if !ok1 || ver == 0xff || (ver == 0 && len(v) != traceparentLen) ||
		(len(v) > traceparentLen && v[traceparentLen] != '-') {
		return tc, false
	}
	if !decodeLowerHex(tc.TraceID[:], v[3:35]) || !decodeLowerHex(tc.ParentID[:], v[36:52]) {
		return tc, false
	}
	flags, ok1 := hexByte(v[53], v[54])
	if !ok1 || tc.TraceID.IsZero() || tc.ParentID.IsZero() {
		return Context{}, false
	}
	tc.Flags = flags
	if ver == 0 {
		// Version 00 defines only the sampled bit; pass on nothing we do not know.
		tc.Flags &= FlagSampled
	}
	return tc, true
}

// AppendTraceparent appends the version 00 traceparent for tc's trace with
// parent as the parent-id.
func (tc Context) AppendTraceparent(dst []byte, parent SpanID) []byte {
	dst = append(dst, "00-"...)
	dst = appendHex(dst, tc.TraceID[:])
	dst = append(dst, '-')
	dst = appendHex(dst, parent[:])
	if tc.Flags&FlagSampled != 0 {
		return append(dst, "-01"...)
	}
	return append(dst, "-00"...)
}

// appendHex is hex.AppendEncode without its length bookkeeping, which showed
// in profiles of the request path.
func appendHex(dst, src []byte) []byte {
	const digits = "0123456789abcdef"
	for _, b := range src {
		dst = append(dst, digits[b>>4], digits[b&15])
	}
	return dst
}

// ValidTracestate reports whether v is a tracestate edged passes on: at most
// 512 bytes and 32 list members, each "key=value" with the characters the
// specification allows (section 3.3.1). Empty members (",,") are allowed.
func ValidTracestate(v []byte) bool {
	if len(v) > maxTracestate {
		return false
	}
	members := 0
	for len(v) > 0 {
		var m []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			m, v = v[:i], v[i+1:]
		} else {
			m, v = v, nil
		}
		m = bytes.Trim(m, " \t") // optional white space around a member
		if len(m) == 0 {
			continue
		}
		members++
		if members > maxTracestateList || !validListMember(m) {
			return false
		}
	}
	return true
}

// validListMember checks one "key=value" of a tracestate.
func validListMember(m []byte) bool {
	eq := bytes.IndexByte(m, '=')
	if eq <= 0 || eq > 256 || eq == len(m)-1 || len(m)-eq-1 > 256 {
		return false
	}
	key, val := m[:eq], m[eq+1:]
	at := bytes.IndexByte(key, '@')
	for i, c := range key {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '_' || c == '-' || c == '*' || c == '/':
			if i == 0 {
				return false
			}
		case c == '@':
			if i != at || i == 0 || i == len(key)-1 || i > 241 || len(key)-i-1 > 14 {
				return false
			}
		default:
			return false
		}
	}
	for i, c := range val {
		// chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E; the
		// last character is not a space.
		if c < 0x20 || c > 0x7e || c == ',' || c == '=' || (c == ' ' && i == len(val)-1) {
			return false
		}
	}
	return true
}

// decodeLowerHex decodes src (lowercase hex, as traceparent requires) into dst.
func decodeLowerHex(dst, src []byte) bool {
	for i := range dst {
		b, ok := hexByte(src[2*i], src[2*i+1])
		if !ok {
			return false
		}
		dst[i] = b
	}
	return true
}

func hexByte(hi, lo byte) (byte, bool) {
	h, ok1 := lowerHexDigit(hi)
	l, ok2 := lowerHexDigit(lo)
	return h<<4 | l, ok1 && ok2
}

func lowerHexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
