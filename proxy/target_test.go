package proxy

import (
	"bytes"
	"testing"
)

func TestAppendOriginForm(t *testing.T) {
	tests := []struct {
		name, target        string
		wantOK              bool
		wantOut, wantAuthor string
	}{
		{"origin-form", "/p?q", false, "", ""},
		{"asterisk", "*", false, "", ""},
		{"other scheme", "ftp://h/p", false, "", ""},
		{"authority-form", "h:443", false, "", ""},
		{"http", "http://h/p?q=1", true, "/p?q=1", "h"},
		{"https, upper case", "HTTPS://h:8443/p", true, "/p", "h:8443"},
		{"no path", "http://h", true, "/", "h"},
		{"query only", "http://h?q", true, "/?q", "h"},
		{"fragment only", "http://h#f", true, "/#f", "h"},
		{"empty authority", "http:///p", true, "/p", ""},
		{"userinfo kept for the caller", "http://u:p@h/p", true, "/p", "u:p@h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("x")
			out, authority, ok := AppendOriginForm(dst, []byte(tc.target))
			if ok != tc.wantOK {
				t.Fatalf("AppendOriginForm(%q) ok = %v, want %v", tc.target, ok, tc.wantOK)
			}
			if !ok {
				if string(out) != "x" || authority != nil {
					t.Errorf("AppendOriginForm(%q) = %q, %q; want dst unchanged and no authority", tc.target, out, authority)
				}
				return
			}
			if string(out) != "x"+tc.wantOut || string(authority) != tc.wantAuthor {
				t.Errorf("AppendOriginForm(%q) = %q, %q; want %q, %q", tc.target, out, authority, "x"+tc.wantOut, tc.wantAuthor)
			}
		})
	}
}

// FuzzAppendOriginForm: for any target the result is dst followed by an origin-form
// target made of the target's own bytes, and the authority holds no delimiter.
func FuzzAppendOriginForm(f *testing.F) {
	for _, s := range []string{"/p", "http://h/p?q", "HTTPS://u@h", "http://", "https://h#", "ftp://h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		out, authority, ok := AppendOriginForm([]byte("d"), []byte(target))
		if !ok {
			if string(out) != "d" || authority != nil {
				t.Fatalf("not absolute, but got %q, %q", out, authority)
			}
			return
		}
		of := out[1:]
		if len(of) == 0 || of[0] != '/' || !bytes.HasSuffix([]byte(target), bytes.TrimPrefix(of, []byte("/"))) {
			t.Fatalf("AppendOriginForm(%q) = %q: not an origin-form tail of the target", target, out)
		}
		if bytes.ContainsAny(authority, "/?#") {
			t.Fatalf("authority %q holds a delimiter", authority)
		}
	})
}
