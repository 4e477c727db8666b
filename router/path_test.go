package router

import (
	"bytes"
	"net/url"
	"path"
	"strings"
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
		{"/a%20b%3f", "/a%20b%3F", true},
		{"/caf%c3%a9", "/caf%C3%A9", true},
		{"/a?b=../..", "/a", true},
		{"/a#../x", "/a", true},
		// Encoded slashes and backslashes separate segments, as for an upstream that
		// decodes them (issue 9: "/secure%2Fx" skipped a route on "/secure").
		{"/a%2fb", "/a/b", true},
		{"/a%2Fb/c", "/a/b/c", true},
		{"/api/group%2Fproject", "/api/group/project", true},
		{"/secure%2Fx", "/secure/x", true},
		{"/secure%2f", "/secure/", true},
		{"/secure%2F%2f//x", "/secure/x", true},
		{"/secure\\x", "/secure/x", true},
		{"/secure%5cx", "/secure/x", true},
		{"/secure%5C", "/secure/", true},
		{"/%2Fsecure", "/secure", true},
		// Path parameters (Java servlet containers strip them) are left out.
		{"/a;b=c", "/a", true},
		{"/secure;a", "/secure", true},
		{"/secure;jsessionid=1/x", "/secure/x", true},
		{"/a/;x", "/a/", true},
		{"/;x/secure", "/secure", true},
		{"/a;x;y/b;", "/a/b", true},
		{"/secure%3Bx", "/secure%3Bx", true},
		// Case is kept (the table compares it case-insensitively).
		{"/SECURE/X", "/SECURE/X", true},
		// A dot segment next to an encoded slash, a backslash or parameters is
		// ambiguous: one upstream resolves it, another serves a name below the prefix.
		{"/api/..;/admin", "/", false},
		{"/..;/x", "/", false},
		{"/a/.;x", "/", false},
		{"/a/%2e;x/b", "/", false},
		{"/api/..%2F", "/", false},
		{"/api/.\\x", "/", false},
		{"/a;%zz", "/", false},
		{"/a;\x01", "/", false},
		{"/a;%00", "/", false},
		{"/api%2F..%2Fadmin", "/", false},
		{"/api/x%2F..", "/", false},
		{"/api/%2E%2E%2Fadmin", "/", false},
		{"/api/..%2fadmin", "/", false},
		{"/api/..%5Cadmin", "/", false},
		{"/api/..\\admin", "/", false},
		{"/api/a%2F.b", "/api/a/.b", true},
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
		"/%41%zz", "/caf%C3%A9", "/..\\..", "/a/b?c#d", "/.%2e/.", "/%2f%2F/", "/secure;a", "/..;/x",
		"/a;b/c;d=%2F", "/SECURE%5c", "/a\\b%5C/;"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, ok, ambiguous := normalizePath(nil, raw, false)
		lit, litOK, _ := normalizePath(nil, raw, true)
		if ok && !ambiguous && (!litOK || !bytes.Equal(lit, out)) {
			t.Fatalf("NormalizePath(%q) = %q, not ambiguous, but the literal reading is %q, %v", raw, out, lit, litOK)
		}
		if litOK {
			if again, ok2, _ := normalizePath(nil, lit, true); !ok2 || !bytes.Equal(again, lit) {
				t.Fatalf("literal reading of %q = %q, %v, want idempotent %q", lit, again, ok2, lit)
			}
		}
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
		// Nothing an upstream could read as another separator or as parameters is
		// left for the route table to compare.
		for _, bad := range []string{"\\", ";", "%2F", "%5C"} {
			if bytes.Contains(out, []byte(bad)) {
				t.Fatalf("NormalizePath(%q) = %q, contains %q", raw, out, bad)
			}
		}
		// The routing form names the path a decoding upstream acts on.
		plain, err := url.PathUnescape(string(out))
		if err != nil {
			t.Fatalf("NormalizePath(%q) = %q, not unescapable: %v", raw, out, err)
		}
		if got, want := path.Clean(plain), upstreamView(raw); got != want {
			t.Fatalf("NormalizePath(%q) = %q, cleans to %q; a decoding upstream acts on %q", raw, out, got, want)
		}
	})
}

// upstreamView is the path an upstream that splits at '/', '\\', %2F and %5C, strips
// path parameters and decodes each segment acts on, cleaned; raw must be valid.
func upstreamView(raw []byte) string {
	if i := bytes.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	r := strings.NewReplacer("\\", "/", "%2F", "/", "%2f", "/", "%5C", "/", "%5c", "/").Replace(string(raw))
	segs := strings.Split(r, "/")
	for i, seg := range segs {
		seg, _, _ = strings.Cut(seg, ";")
		if d, err := url.PathUnescape(seg); err == nil {
			seg = d
		}
		segs[i] = seg
	}
	return path.Clean("/" + strings.Join(segs, "/"))
}

func BenchmarkNormalizePath(b *testing.B) {
	b.ReportAllocs()
	raw := []byte("/api/v1/users/../accounts/%7Ealice//settings/")
	buf := make([]byte, 0, 128)
	for b.Loop() {
		buf, _ = NormalizePath(buf, raw)
	}
}
