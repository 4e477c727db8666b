package abi

import (
	"net/http"
	"net/url"
	"testing"
)

func TestMethod(t *testing.T) {
	for _, m := range []string{"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "PROPFIND", "get", ""} {
		t.Run(m, func(t *testing.T) {
			if got := Method([]byte(m)); got != m {
				t.Errorf("Method(%q) = %q, want %q", m, got, m)
			}
		})
	}
}

func TestMethodAllocs(t *testing.T) {
	b := []byte("POST")
	if n := testing.AllocsPerRun(100, func() { _ = Method(b) }); n != 0 {
		t.Errorf("Method(%q) allocates %v times, want 0", b, n)
	}
}

func TestProto(t *testing.T) {
	for _, p := range []string{"HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/2", "HTTP/3.0", "http/1.1", "", "HTTP/1.10"} {
		t.Run(p, func(t *testing.T) {
			proto, major, minor, ok := Proto([]byte(p))
			wmaj, wmin, wok := http.ParseHTTPVersion(p)
			if proto != p || major != wmaj || minor != wmin || ok != wok {
				t.Errorf("Proto(%q) = %q, %d, %d, %v, want %q, %d, %d, %v", p, proto, major, minor, ok, p, wmaj, wmin, wok)
			}
		})
	}
}

func TestParseOriginForm(t *testing.T) {
	tests := []struct {
		uri  string
		fast bool
	}{
		{"/", true},
		{"/echo", true},
		{"/a/b?x=1&y=2", true},
		{"/a?", true},
		{"/a??", true},
		{"/a?b?c", true},
		{"//double", true},
		{"/a:b@c;d=e,f+g$h&i~j", true},
		{"/q?a b", true},
		{"/a%20b", false},
		{"/a b", false},
		{"/a!b", false},
		{"/é", false},
		{"/a#frag", false},
		{"/q?\x7f", false},
		{"*", false},
		{"http://example.com/", false},
		{"", false},
		{"echo", false},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			var u url.URL
			if got := ParseOriginForm(tc.uri, &u); got != tc.fast {
				t.Fatalf("ParseOriginForm(%q) = %v, want %v", tc.uri, got, tc.fast)
			}
			if !tc.fast {
				return
			}
			want, err := url.ParseRequestURI(tc.uri)
			if err != nil {
				t.Fatalf("url.ParseRequestURI(%q): %v", tc.uri, err)
			}
			if u != *want {
				t.Errorf("ParseOriginForm(%q) = %#v, want %#v", tc.uri, u, *want)
			}
		})
	}
}

func FuzzParseOriginForm(f *testing.F) {
	for _, s := range []string{"/", "/echo?x=1", "/a?", "/a??", "//x", "/a%2f", "/a:b@c", "*", "http://h/p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		var u url.URL
		if !ParseOriginForm(uri, &u) {
			return
		}
		want, err := url.ParseRequestURI(uri)
		if err != nil {
			t.Fatalf("ParseOriginForm(%q) accepted what url.ParseRequestURI rejects: %v", uri, err)
		}
		if u != *want {
			t.Fatalf("ParseOriginForm(%q) = %#v, want %#v", uri, u, *want)
		}
	})
}

func BenchmarkParseOriginForm(b *testing.B) {
	var u url.URL
	b.ReportAllocs()
	for b.Loop() {
		ParseOriginForm("/api/v1/items?limit=10", &u)
	}
}

func TestIsHTTP11(t *testing.T) {
	for _, tc := range []struct {
		b    string
		want bool
	}{{"HTTP/1.1", true}, {"HTTP/1.0", false}, {"HTTP/1.11", false}, {"http/1.1", false}, {"", false}} {
		t.Run(tc.b, func(t *testing.T) {
			if got := IsHTTP11([]byte(tc.b)); got != tc.want {
				t.Errorf("IsHTTP11(%q) = %v, want %v", tc.b, got, tc.want)
			}
		})
	}
}
