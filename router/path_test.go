package router

import (
	"bytes"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct {
		raw    string
		want   string
		wantOK bool
	}{
		{"", "/", true},
		{"/", "/", true},
		{"/a/b", "/a/b", true},
		{"/a/b/", "/a/b/", true},
		{"//a///b//", "/a/b/", true},
		{"/a/./b", "/a/b", true},
		{"/a/.", "/a/", true},
		{"/a/..", "/", true},
		{"/a/b/../c", "/a/c", true},
		{"/debug/../debug/headers", "/debug/headers", true},
		{"/..", "/", true},
		{"/../../etc/passwd", "/etc/passwd", true},
		{"/a/../../b", "/b", true},
		{"/.../a", "/.../a", true},
		{"/a..b/.c", "/a..b/.c", true},
		// Unreserved escapes decode, so encoded dot segments resolve like plain ones.
		{"/%7Euser/%41%62%2d%2E%5f", "/~user/Ab-._", true},
		{"/api/%2e%2e/admin", "/admin", true},
		{"/api/%2E/x", "/api/x", true},
		{"/api/.%2e/admin", "/admin", true},
		// Reserved and other escapes stay encoded, with upper-case hex.
		{"/a%2fb", "/a%2Fb", true},
		{"/a%2Fb/c", "/a%2Fb/c", true},
		{"/a%20b%3f", "/a%20b%3F", true},
		{"/caf%c3%a9", "/caf%C3%A9", true},
		{"/a?b=../..", "/a", true},
		{"/a#../x", "/a", true},
		{"/a;b=c", "/a;b=c", true},
		// An encoded slash never splits a segment...
		{"/api/group%2Fproject", "/api/group%2Fproject", true},
		// ...and cannot smuggle a dot segment past a prefix for an upstream that decodes it.
		{"/api%2F..%2Fadmin", "/", false},
		{"/api/x%2F..", "/", false},
		{"/api/%2E%2E%2Fadmin", "/", false},
		{"/api/..%2fadmin", "/", false},
		{"/api/..%5Cadmin", "/", false},
		{"/api/..\\admin", "/", false},
		{"/api/a%2F.b", "/api/a%2F.b", true},
		// Invalid input.
		{"a/b", "/", false},
		{"*", "/", false},
		{"/a%", "/", false},
		{"/a%2", "/", false},
		{"/a%zz", "/", false},
		{"/a%00b", "/", false},
		{"/a\x00b", "/", false},
		{"/a\nb", "/", false},
		{"/a\x7fb", "/", false},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			got, ok := NormalizePath(nil, []byte(tc.raw))
			if ok != tc.wantOK || (ok && string(got) != tc.want) {
				t.Errorf("NormalizePath(%q) = %q, %v, want %q, %v", tc.raw, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestNormalizePathReusesBuffer(t *testing.T) {
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		buf, _ = NormalizePath(buf, []byte("/api/v1/../v2/%7Eusers//42/"))
	}); n != 0 {
		t.Errorf("NormalizePath with a reused buffer: %v allocs, want 0", n)
	}
	if string(buf) != "/api/v2/~users/42/" {
		t.Errorf("NormalizePath = %q, want %q", buf, "/api/v2/~users/42/")
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "//x//", "/%2e%2E/", "/api%2F..%2Fadmin", "/a%2Fb/./c/..",
		"/%41%zz", "/caf%C3%A9", "/..\\..", "/a/b?c#d", "/.%2e/.", "/%2f%2F/"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, ok := NormalizePath(nil, raw)
		if !ok {
			return
		}
		if len(out) == 0 || out[0] != '/' {
			t.Fatalf("NormalizePath(%q) = %q, want a leading /", raw, out)
		}
		for _, bad := range []string{"//", "/../", "/./"} {
			if bytes.Contains(out, []byte(bad)) {
				t.Fatalf("NormalizePath(%q) = %q, contains %q", raw, out, bad)
			}
		}
		if bytes.HasSuffix(out, []byte("/..")) || bytes.HasSuffix(out, []byte("/.")) {
			t.Fatalf("NormalizePath(%q) = %q, ends in a dot segment", raw, out)
		}
		again, ok2 := NormalizePath(nil, out)
		if !ok2 || !bytes.Equal(again, out) {
			t.Fatalf("NormalizePath(%q) = %q, %v, want idempotent %q", out, again, ok2, out)
		}
	})
}

func BenchmarkNormalizePath(b *testing.B) {
	b.ReportAllocs()
	raw := []byte("/api/v1/users/../accounts/%7Ealice//settings/")
	buf := make([]byte, 0, 128)
	for b.Loop() {
		buf, _ = NormalizePath(buf, raw)
	}
}
