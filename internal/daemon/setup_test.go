package daemon

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestTrimNewline(t *testing.T) {
	for in, want := range map[string]string{
		"tok": "tok", "tok\n": "tok", "tok\r\n": "tok", "tok\n\n": "tok\n", "tok\r": "tok\r", "": "",
	} {
		if got := string(trimNewline([]byte(in))); got != want {
			t.Errorf("trimNewline(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          string
		wantErr       bool
	}{
		{"plain", "abc", "abc", false},
		{"newline", "abc\n", "abc", false},
		{"empty", "", "", true},
		{"blank", " \n\t\n", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readToken(p)
			if (err != nil) != tc.wantErr || string(got) != tc.want {
				t.Errorf("readToken(%q) = %q, %v; want %q, error %v", tc.content, got, err, tc.want, tc.wantErr)
			}
		})
	}
	if _, err := readToken(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("readToken(missing) = nil error, want one")
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://127.0.0.1:8080"},
		{&net.TCPAddr{IP: net.IPv6zero, Port: 8080}, "http://127.0.0.1:8080"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 1}, "http://127.0.0.1:1"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 9901}, "http://[::1]:9901"},
	}
	for _, tc := range tests {
		if got := baseURL(tc.addr); got != tc.want {
			t.Errorf("baseURL(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
