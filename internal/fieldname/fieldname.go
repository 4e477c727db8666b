// Package fieldname compares HTTP field names the way RFC 9110 (section 5.1)
// says they compare: ASCII letters without regard to case, every other byte
// exactly, without converting either side or allocating.
//
// edged runs fasthttp with header-name normalising off, so names keep the
// client's spelling and every comparison of a name must fold case. The header
// hygiene of proxy, the identity stripping of auth, the idempotency key header,
// the guest's header calls in isolate and the header matchers of strangler all
// compare names on the hot path; they share this one definition.
package fieldname

import "bytes"

// Equal reports whether the field name b equals s, ignoring ASCII case.
func Equal(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// EqualBytes is Equal for two byte slices.
func EqualBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// lower folds an ASCII upper-case letter; other bytes, including non-ASCII
// ones, stay as they are (Unicode folding would let U+212A KELVIN SIGN match
// "k", which a token never contains).
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// BlankTokens blanks, in place, every token of the Connection field value v
// (a comma-separated list of field names) for which match reports true, so
// that a proxy does not strip those fields as hop-by-hop: fields an edge adds
// itself (identities, trace context) are not the client's to remove.
// Blanking (not deleting the field) keeps the order of the other fields and
// does not allocate. "close" and "keep-alive" may be fasthttp's shared
// values, never to be written, so they are never blanked.
func BlankTokens(v []byte, match func(token []byte) bool) {
	for len(v) > 0 {
		end := bytes.IndexByte(v, ',')
		if end < 0 {
			end = len(v)
		}
		tok := bytes.TrimSpace(v[:end])
		if !Equal(tok, "close") && !Equal(tok, "keep-alive") && match(tok) {
			for i := range tok {
				tok[i] = ' '
			}
		}
		if end == len(v) {
			break
		}
		v = v[end+1:]
	}
}
