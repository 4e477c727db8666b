package limits

import (
	"net/url"
	"testing"
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // canonical String(); "" means an error is expected
	}{
		{"exact https", "https://api.example.com", "https://api.example.com"},
		{"exact http", "http://api.example.com", "http://api.example.com"},
		{"wildcard with port", "https://*.example.com:8443", "https://*.example.com:8443"},
		{"ipv4 with port", "http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"ipv6", "http://[::1]:9000", "http://[::1]:9000"},
		{"ipv6 no port", "https://[2001:db8::1]", "https://[2001:db8::1]"},
		{"ipv4-mapped ipv6 is ipv4", "http://[::ffff:127.0.0.1]:9000", "http://127.0.0.1:9000"},
		{"upper case", "HTTPS://API.Example.COM", "https://api.example.com"},
		{"trailing dot", "https://api.example.com.", "https://api.example.com"},
		{"trailing dot ip", "http://127.0.0.1.:80", "http://127.0.0.1"},
		{"trailing slash", "https://api.example.com/", "https://api.example.com"},
		{"default https port", "https://api.example.com:443", "https://api.example.com"},
		{"default http port", "http://api.example.com:80", "http://api.example.com"},
		{"https on 80", "https://api.example.com:80", "https://api.example.com:80"},
		{"leading zero port", "http://h.test:08080", "http://h.test:8080"},
		{"single label", "http://localhost:8080", "http://localhost:8080"},
		{"underscore", "https://my_svc.internal", "https://my_svc.internal"},
		{"wildcard trailing dot", "https://*.example.com.", "https://*.example.com"},

		{"missing scheme", "api.example.com", ""},
		{"empty scheme", "://api.example.com", ""},
		{"ftp", "ftp://api.example.com", ""},
		{"ws", "ws://api.example.com", ""},
		{"path", "https://api.example.com/v1", ""},
		{"double slash", "https://api.example.com//", ""},
		{"query", "https://api.example.com?x=1", ""},
		{"fragment", "https://api.example.com#x", ""},
		{"userinfo", "https://user@api.example.com", ""},
		{"userinfo password", "https://u:p@api.example.com", ""},
		{"star in middle", "https://api.*.example.com", ""},
		{"star partial label", "https://a*.example.com", ""},
		{"star alone", "https://*", ""},
		{"star dot", "https://*.", ""},
		{"double star", "https://*.*.example.com", ""},
		{"empty host", "https://", ""},
		{"empty host port", "https://:8080", ""},
		{"dot only", "https://.", ""},
		{"empty label", "https://a..b", ""},
		{"bad port", "https://api.example.com:http", ""},
		{"port zero", "https://api.example.com:0", ""},
		{"port too big", "https://api.example.com:65536", ""},
		{"negative port", "https://api.example.com:-1", ""},
		{"empty port", "https://api.example.com:", ""},
		{"unbracketed ipv6", "http://::1", ""},
		{"ipv6 zone", "http://[fe80::1%25eth0]", ""},
		{"ipv4 in brackets", "http://[127.0.0.1]", ""},
		{"unclosed bracket", "http://[::1", ""},
		{"junk after bracket", "http://[::1]x", ""},
		{"space", "https://api example.com", ""},
		{"non-ascii", "https://bücher.example", ""},
		{"backslash", `https://api.example.com\evil`, ""},
		{"label too long", "https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePattern(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Errorf("ParsePattern(%q) = %v, want an error", tc.in, p)
				}
				return
			}
			if err != nil || p.String() != tc.want {
				t.Errorf("ParsePattern(%q) = %q, %v, want %q", tc.in, p.String(), err, tc.want)
			}
		})
	}
}

func TestPatternAccessors(t *testing.T) {
	p := mustPattern(t, "https://*.example.com")
	if p.Scheme() != "https" || p.Port() != 443 {
		t.Errorf("Scheme(), Port() = %q, %d, want https, 443", p.Scheme(), p.Port())
	}
	if _, ok := p.Addr(); ok {
		t.Errorf("Addr() of %v reports an IP", p)
	}
	ip := mustPattern(t, "http://[::1]:9000")
	if a, ok := ip.Addr(); !ok || a.String() != "::1" || ip.Port() != 9000 {
		t.Errorf("Addr(), Port() = %v, %v, %d, want ::1, true, 9000", a, ok, ip.Port())
	}
	var zero Pattern
	if !zero.IsZero() || zero.String() != "" || zero.Port() != 0 || zero.Match(mustURL(t, "http://a.test")) {
		t.Errorf("zero Pattern: IsZero %v, String %q, Port %d, or it matches", zero.IsZero(), zero.String(), zero.Port())
	}
	var q Pattern
	if err := q.UnmarshalText([]byte("HTTP://A.test:81")); err != nil || q.String() != "http://a.test:81" {
		t.Errorf("UnmarshalText = %v, %v", q, err)
	}
	if b, _ := q.MarshalText(); string(b) != "http://a.test:81" {
		t.Errorf("MarshalText() = %q", b)
	}
	if err := q.UnmarshalText([]byte("nope")); err == nil {
		t.Errorf("UnmarshalText(%q) succeeded", "nope")
	}
}

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		url     string
		want    bool
	}{
		{"https://api.example.com", "https://api.example.com/v1/x?q=1", true},
		{"https://api.example.com", "https://API.Example.COM/", true},
		{"https://api.example.com", "HTTPS://api.example.com/", true},
		{"https://api.example.com", "https://api.example.com.:443/", true},
		{"https://api.example.com", "https://api.example.com:443", true},
		{"https://api.example.com", "https://user:pw@api.example.com", true},
		{"https://api.example.com", "http://api.example.com", false},
		{"https://api.example.com", "https://api.example.com:8443", false},
		{"https://api.example.com", "https://x.api.example.com", false},
		{"https://api.example.com", "https://api.example.com.evil.test", false},
		{"https://api.example.com", "https://evilapi.example.com", false},
		{"https://api.example.com", "https://api.example.com:0", false},
		{"https://api.example.com", "https://api.example.com:99999", false},
		{"http://api.example.com", "http://api.example.com:80/", true},
		{"http://api.example.com:8080", "http://api.example.com:8080/", true},
		{"http://api.example.com:8080", "http://api.example.com/", false},
		{"https://*.example.com", "https://a.example.com", true},
		{"https://*.example.com", "https://a.b.example.com", true},
		{"https://*.example.com", "https://A.EXAMPLE.com", true},
		{"https://*.example.com", "https://a.example.com.", true},
		{"https://*.example.com", "https://example.com", false},
		{"https://*.example.com", "https://.example.com", false},
		{"https://*.example.com", "https://aexample.com", false},
		{"https://*.example.com", "https://a.example.com.evil", false},
		{"https://*.example.com:8443", "https://a.example.com:8443", true},
		{"https://*.example.com:8443", "https://a.example.com", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/x", true},
		{"http://127.0.0.1:8080", "http://[::ffff:127.0.0.1]:8080/x", true},
		{"http://127.0.0.1:8080", "http://127.0.0.2:8080", false},
		{"http://127.0.0.1:8080", "http://localhost:8080", false},
		{"http://127.0.0.1:8080", "http://127.1:8080", false},
		{"http://[::1]:9000", "http://[::1]:9000", true},
		{"http://[::1]:9000", "http://[0:0:0:0:0:0:0:1]:9000", true},
		{"http://[::1]:9000", "http://[::1%25lo]:9000", false},
		{"http://[::1]:9000", "http://127.0.0.1:9000", false},
		{"http://[2001:DB8::1]", "http://[2001:db8::1]/", true},
		{"https://*.example.com", "https://1.2.3.4", false},
		{"http://localhost:8080", "http://localhost:8080", true},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.url, func(t *testing.T) {
			p := mustPattern(t, tc.pattern)
			u := mustURL(t, tc.url)
			if got := p.Match(u); got != tc.want {
				t.Errorf("ParsePattern(%q).Match(%q) = %v, want %v", tc.pattern, tc.url, got, tc.want)
			}
		})
	}
	if mustPattern(t, "https://a.test").Match(nil) {
		t.Errorf("Match(nil) = true, want false")
	}
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{
		"https://api.example.com", "https://*.example.com:8443", "http://127.0.0.1:8080", "http://[::1]:9000",
		"http://[::ffff:10.0.0.1]", "HTTPS://A.B.", "https://a.b/", "ftp://x", "https://u@h", "https://*", "http://h:0",
	} {
		f.Add(s, "https://a.example.com:8443/x")
	}
	f.Fuzz(func(t *testing.T, s, rawURL string) {
		p, err := ParsePattern(s)
		if err != nil {
			return
		}
		back, err := ParsePattern(p.String())
		if err != nil || back != p {
			t.Fatalf("ParsePattern(%q) = %#v, %v, want %#v (round trip of %q)", p.String(), back, err, p, s)
		}
		if u, err := url.Parse(rawURL); err == nil {
			_ = p.Match(u) // must not panic
		}
		// A pattern always matches its own canonical URL.
		if u, err := url.Parse(p.String() + "/"); err != nil || !p.Match(u) {
			t.Fatalf("ParsePattern(%q).Match(%q) = false (url error %v), want true", s, p.String()+"/", err)
		}
	})
}

func BenchmarkPatternMatch(b *testing.B) {
	cases := []struct{ name, pattern, url string }{
		{"exact", "https://api.example.com", "https://API.example.com/v1/items?id=3"},
		{"wildcard", "https://*.example.com:8443", "https://a.b.example.com:8443/x"},
		{"ip", "http://127.0.0.1:9000", "http://127.0.0.1:9000/x"},
		{"miss", "https://api.example.com", "https://other.example.org/"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p, err := ParsePattern(c.pattern)
			if err != nil {
				b.Fatal(err)
			}
			u, err := url.Parse(c.url)
			if err != nil {
				b.Fatal(err)
			}
			want := c.name != "miss"
			b.ReportAllocs()
			for b.Loop() {
				if p.Match(u) != want {
					b.Fatal("unexpected result")
				}
			}
		})
	}
}

func mustPattern(tb testing.TB, s string) Pattern {
	tb.Helper()
	p, err := ParsePattern(s)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func mustURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}
