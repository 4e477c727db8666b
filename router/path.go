package router

import "bytes"

// NormalizePath writes the routing form of the raw request path into dst and returns it
// (dst's contents are overwritten; pass a reused buffer to avoid allocating). Anything
// from the first '?' or '#' on is ignored. The routing form:
//
//   - starts with "/" ("" becomes "/");
//   - has percent-encoded unreserved characters (ALPHA, DIGIT, "-", ".", "_", "~")
//     decoded and every other escape kept, with upper-case hex ("%2f" becomes "%2F");
//   - has "." and ".." segments resolved, never above "/" (so "/a/%2e%2e/b" is "/b",
//     the same path a decoding upstream would serve) and duplicate slashes collapsed;
//     a trailing slash is kept.
//
// An encoded slash or backslash (%2F, %5C) stays encoded, so it never splits a segment:
// "/api/a%2Fb" stays one segment under "/api/". Because an upstream may decode it
// anyway, a segment whose pieces between encoded slashes or raw backslashes include "."
// or ".." is refused: "/api%2F..%2Fadmin" cannot reach "/admin" past a route on "/api".
//
// ok is false for input the router must answer with 400: a path not starting with "/",
// a malformed escape, a NUL (raw or %00), other control bytes, or the encoded-slash dot
// segments above. The routing form is only for matching: the proxy still sends the
// original bytes upstream.
func NormalizePath(dst, raw []byte) (out []byte, ok bool) {
	if i := bytes.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	out = append(dst[:0], '/')
	if len(raw) == 0 {
		return out, true
	}
	if raw[0] != '/' {
		return out, false
	}
	regularLast := false // whether the last segment written was a regular one
	for len(raw) > 0 {
		// raw starts at a '/': skip runs of slashes.
		for len(raw) > 0 && raw[0] == '/' {
			raw = raw[1:]
		}
		if len(raw) == 0 {
			regularLast = false // the path ends with a slash: keep it
			break
		}
		end := bytes.IndexByte(raw, '/')
		if end < 0 {
			end = len(raw)
		}
		segStart := len(out)
		var good bool
		out, good = appendSegment(out, raw[:end])
		raw = raw[end:]
		if !good {
			return out[:1], false
		}
		seg := out[segStart:]
		switch {
		case len(seg) == 1 && seg[0] == '.':
			out = out[:segStart]
			regularLast = false
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			out = out[:segStart]
			if segStart > 1 {
				out = out[:bytes.LastIndexByte(out[:segStart-1], '/')+1]
			}
			regularLast = false
		default:
			if encodedDotSegment(seg) {
				return out[:1], false
			}
			out = append(out, '/')
			regularLast = true
		}
	}
	if regularLast {
		out = out[:len(out)-1]
	}
	return out, true
}

// appendSegment appends the decoded form of one raw segment (no '/') to out.
func appendSegment(out, seg []byte) ([]byte, bool) {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '%':
			if i+2 >= len(seg) {
				return out, false
			}
			hi, lo := unhex(seg[i+1]), unhex(seg[i+2])
			if hi < 0 || lo < 0 {
				return out, false
			}
			v := byte(hi<<4 | lo)
			if v == 0 {
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

// encodedDotSegment reports whether seg, split at encoded slashes and backslashes
// (%2F, %5C, raw '\'), has a "." or ".." piece.
func encodedDotSegment(seg []byte) bool {
	start := 0
	for i := 0; i <= len(seg); i++ {
		sep := 0
		switch {
		case i == len(seg):
			sep = 1
		case seg[i] == '\\':
			sep = 1
		case seg[i] == '%' && i+2 < len(seg) && (seg[i+1] == '2' && seg[i+2] == 'F' || seg[i+1] == '5' && seg[i+2] == 'C'):
			sep = 3
		}
		if sep == 0 {
			continue
		}
		if p := seg[start:i]; (len(p) == 1 && p[0] == '.') || (len(p) == 2 && p[0] == '.' && p[1] == '.') {
			return start > 0 || i < len(seg)
		}
		start = i + sep
		i += sep - 1
	}
	return false
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
