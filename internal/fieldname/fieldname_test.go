package fieldname

import (
	"bytes"
	"strings"
	"testing"
)

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"same", "content-type", "content-type", true},
		{"case", "Content-Type", "content-TYPE", true},
		{"shorter", "content-typ", "content-type", false},
		{"other letter", "content-typf", "content-type", false},
		{"empty", "", "", true},
		{"non-letters exact", "x_edged", "x-edged", false},
		{"digits", "h2", "H2", true},
		{"not unicode folding", "\u212a", "k", false},
		{"not unicode folding, same length", "\u212ax", "kxx", false},
		{"high bytes exact", "\xc3\xa9", "\xc3\x89", false},
		{"punctuation is not folded", "@", "`", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Equal([]byte(tc.a), tc.b); got != tc.want {
				t.Errorf("Equal(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
			if got := EqualBytes([]byte(tc.a), []byte(tc.b)); got != tc.want {
				t.Errorf("EqualBytes(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

// FuzzEqual checks Equal against folding both sides with the ASCII-only rule.
func FuzzEqual(f *testing.F) {
	f.Add([]byte("Content-Type"), "content-type")
	f.Add([]byte("\u212a"), "k")
	f.Fuzz(func(t *testing.T, a []byte, b string) {
		want := bytes.Equal(asciiLower(a), asciiLower([]byte(b)))
		if got := Equal(a, b); got != want {
			t.Fatalf("Equal(%q, %q) = %v, want %v", a, b, got, want)
		}
		if got := EqualBytes(a, []byte(b)); got != want {
			t.Fatalf("EqualBytes(%q, %q) = %v, want %v", a, b, got, want)
		}
	})
}

// asciiLower is the reference: a table lookup, independent of Equal's range check.
func asciiLower(b []byte) []byte {
	const upper, lower = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c
		if j := strings.IndexByte(upper, c); j >= 0 {
			out[i] = lower[j]
		}
	}
	return out
}

func TestEqualAllocs(t *testing.T) {
	a, b := []byte("X-Edged-Auth-Sub"), "x-edged-auth-sub"
	if n := testing.AllocsPerRun(100, func() { Equal(a, b) }); n != 0 {
		t.Errorf("Equal: %v allocations", n)
	}
}

func TestBlankTokens(t *testing.T) {
	isX := func(tok []byte) bool { return Equal(tok, "x-edge") }
	tests := []struct {
		name, in, want string
	}{
		{"one named", "X-Edge", "      "},
		{"among others", "keep-alive, X-EDGE,x-other", "keep-alive,       ,x-other"},
		{"none named", "x-other, upgrade", "x-other, upgrade"},
		{"close never written", "close", "close"},
		{"empty tokens", " , ,", " , ,"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := []byte(tc.in)
			BlankTokens(v, isX)
			if string(v) != tc.want {
				t.Errorf("BlankTokens(%q) = %q, want %q", tc.in, v, tc.want)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { BlankTokens([]byte("a, x-edge"), isX) }); n > 1 {
		t.Errorf("BlankTokens: %v allocations, want only the test's own slice", n)
	}
}
