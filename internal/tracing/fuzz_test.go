package tracing

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseEndpoint: parseEndpoint never panics, every refusal wraps
// ErrEndpoint, and what it accepts is an http(s) host with an absolute path.
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:4318", "https://otel.example/v1/traces", "http://[::1]:4318/", "http://h:0",
		"grpc://h", "http://u:p@h", "http://h/?q", "http:h", "", "http://%zz", "https://h:99999/x%20y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, path, insecure, err := parseEndpoint(s)
		if err != nil {
			if !errors.Is(err, ErrEndpoint) {
				t.Fatalf("parseEndpoint(%q) = %v, want ErrEndpoint", s, err)
			}
			return
		}
		u, perr := url.Parse(s)
		if perr != nil || host == "" || !strings.HasPrefix(path, "/") || insecure != (u.Scheme == "http") || u.User != nil {
			t.Fatalf("parseEndpoint(%q) = %q, %q, %v, nil; want a valid http(s) endpoint", s, host, path, insecure)
		}
	})
}
