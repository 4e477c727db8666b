package router

import "bytes"

// NormalizePath writes the routing form of the raw request path into dst and returns it
// (dst's contents are overwritten; pass a reused buffer to avoid allocating). Anything
// from the first '?' or '#' on is ignored. The routing form is the path an upstream
// that decodes and cleans its path acts on, so that no spelling of a path reaches a
// route other than the one that path names (see docs/gateway.md, "Path matching"):
//
//   - it starts with "/" ("" becomes "/");
//   - '/', '\' and their escapes %2F and %5C (any hex case) all separate segments,
//     since Go's net/http and most frameworks decode %2F before routing, and IIS and
//     Windows stacks take '\' for '/': "/secure%2Fx" is "/secure/x";
//   - a segment's path parameters, from its first ';' on, are left out, as Java
//     servlet containers strip them: "/secure;a" is "/secure";
//   - percent-encoded unreserved characters (ALPHA, DIGIT, "-", ".", "_", "~") are
//     decoded and every other escape is kept, with upper-case hex ("%3f" becomes "%3F");
//   - "." and ".." segments are resolved, never above "/" (so "/a/%2e%2e/b" is "/b"),
//     and empty segments collapsed; a trailing separator is kept as "/".
//
// Letter case is kept: the route table compares paths without regard to ASCII case.
//
// ok is false for input the router must answer with 400: a path not starting with "/",
// a malformed escape, a NUL (raw or %00), other control bytes, and the ambiguous dot
// segments: a "." or ".." next to a separator other than a plain '/' or with path
// parameters ("/api%2F..%2Fadmin", "/api/..\admin", "/api/..;/admin"), which one
// upstream resolves and another serves as a name below "/api". The routing form is only
// for matching: the proxy still sends the original bytes upstream.
func NormalizePath(dst, raw []byte) (out []byte, ok bool) {
	out, ok, _ = normalizePath(dst, raw, false)
	return out, ok
}

// normalizePath is NormalizePath, or with literal set the narrowest reading of the
// path: only '/' separates segments and parameters are part of their segment (an
// upstream that neither decodes %2F nor strips ';' acts on that one). ambiguous
// reports that the two readings can differ: the path has a separator other than '/'
// or a ';'. The router routes on the inclusive reading and refuses a path whose
// literal reading picks another route (Server.match).
func normalizePath(dst, raw []byte, literal bool) (out []byte, ok, ambiguous bool) {
	if i := bytes.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	out = append(dst[:0], '/')
	if len(raw) == 0 {
		return out, true, false
	}
	if raw[0] != '/' {
		return out, false, false
	}
	// out always ends with "/" between segments; trailing says whether the path
	// ends with one (a separator, ".", ".." or a segment that is all parameters).
	trailing := true
	for {
		// raw starts at a separator: skip the run, noting any that is not a plain '/'.
		oddBefore := false
		for len(raw) > 0 && raw[0] == '/' || !literal && sepLen(raw) > 0 {
			n := sepLen(raw)
			oddBefore = oddBefore || n != 1 || raw[0] != '/'
			raw = raw[n:]
		}
		ambiguous = ambiguous || oddBefore
		if len(raw) == 0 {
			trailing = true
			break
		}
		var end int
		if literal {
			if end = bytes.IndexByte(raw, '/'); end < 0 {
				end = len(raw)
			}
		} else {
			end = segEnd(raw)
		}
		seg, params := raw[:end], []byte(nil)
		raw = raw[end:]
		oddAfter := len(raw) > 0 && raw[0] != '/'
		if i := bytes.IndexByte(seg, ';'); i >= 0 && !literal {
			seg, params = seg[:i], seg[i:]
			ambiguous = true
			if !validBytes(params) {
				return out[:1], false, ambiguous
			}
		}
		segStart := len(out)
		var good bool
		out, good = appendSegment(out, seg)
		if !good {
			return out[:1], false, ambiguous
		}
		name := out[segStart:]
		dot := len(name) == 1 && name[0] == '.'
		dotdot := len(name) == 2 && name[0] == '.' && name[1] == '.'
		switch {
		case (dot || dotdot) && (oddBefore || oddAfter || params != nil):
			return out[:1], false, ambiguous
		case dot || len(name) == 0:
			out = out[:segStart]
			trailing = true
		case dotdot:
			out = out[:segStart]
			if segStart > 1 {
				out = out[:bytes.LastIndexByte(out[:segStart-1], '/')+1]
			}
			trailing = true
		default:
			out = append(out, '/')
			trailing = false
		}
		if len(raw) == 0 {
			break
		}
	}
	if !trailing {
		out = out[:len(out)-1]
	}
	return out, true, ambiguous
}

// sepLen returns the length of the segment separator p starts with ('/', '\', %2F
// or %5C in any hex case), or 0.
func sepLen(p []byte) int {
	switch {
	case len(p) == 0:
		return 0
	case p[0] == '/' || p[0] == '\\':
		return 1
	case p[0] == '%' && len(p) >= 3 &&
		(p[1] == '2' && (p[2] == 'F' || p[2] == 'f') || p[1] == '5' && (p[2] == 'C' || p[2] == 'c')):
		return 3
	}
	return 0
}

// segEnd returns the index of the first separator in p, or len(p).
func segEnd(p []byte) int {
	for i := 0; i < len(p); i++ {
		if c := p[i]; (c == '/' || c == '\\' || c == '%') && sepLen(p[i:]) > 0 {
			return i
		}
	}
	return len(p)
}

// appendSegment appends the decoded form of one raw segment (no separator, no
// parameters) to out.
func appendSegment(out, seg []byte) ([]byte, bool) {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '%':
			v, ok := escapedByte(seg[i:])
			if !ok {
				return out, false
			}
			if unreserved(v) {
				out = append(out, v)
			} else {
				out = append(out, '%', upperHex[v>>4], upperHex[v&15])
			}
			i += 2
		case c < 0x20 || c == 0x7f:
			return out, false
		default:
			out = append(out, c)
		}
	}
	return out, true
}

// validBytes reports whether p, which routing leaves out (path parameters), has
// only what appendSegment would accept: no control bytes, well-formed escapes, no %00.
func validBytes(p []byte) bool {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '%':
			if _, ok := escapedByte(p[i:]); !ok {
				return false
			}
			i += 2
		case c < 0x20 || c == 0x7f:
			return false
		}
	}
	return true
}

// escapedByte decodes the escape p starts with ("%XX"); ok is false for a short or
// malformed escape and for %00.
func escapedByte(p []byte) (byte, bool) {
	if len(p) < 3 {
		return 0, false
	}
	hi, lo := unhex(p[1]), unhex(p[2])
	if hi < 0 || lo < 0 || hi|lo == 0 {
		return 0, false
	}
	return byte(hi<<4 | lo), true
}

const upperHex = "0123456789ABCDEF"

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// unreserved reports whether c is an RFC 3986 unreserved character, the only ones whose
// percent-encoding is equivalent to the character itself.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
