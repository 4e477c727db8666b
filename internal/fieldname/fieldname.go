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
