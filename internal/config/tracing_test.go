package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/limits"
)

func TestTracingDefaults(t *testing.T) {
	c, err := Decode([]byte(minimal), "testdata")
	if err != nil {
		t.Fatalf("Decode(minimal) error: %v", err)
	}
	want := Tracing{ServiceName: "edged", SampleRatio: 1, AcceptIncoming: true, Timeout: limits.Duration(10 * time.Second)}
	if !reflect.DeepEqual(c.Tracing, want) {
		t.Errorf("Decode(minimal).Tracing = %+v, want %+v", c.Tracing, want)
	}
}

// TestTracing decodes [tracing] tables: good ones must give the values
// written, bad ones must name the key (and never quote a header value).
func TestTracing(t *testing.T) {
	tests := []struct {
		name     string
		table    string
		wantPath string // "" for a valid table
		check    func(Tracing) bool
	}{
		{"base URL", `endpoint = "http://127.0.0.1:4318"`, "",
			func(tr Tracing) bool { return tr.Endpoint == "http://127.0.0.1:4318" }},
		{"full URL with path", `endpoint = "https://otel.example/api/v1/traces"`, "",
			func(tr Tracing) bool { return tr.Endpoint == "https://otel.example/api/v1/traces" }},
		{"IPv6 host", `endpoint = "http://[::1]:4318/"`, "", nil},
		{"explicit false and zero kept", "accept_incoming = false\nsample_ratio = 0.0", "",
			func(tr Tracing) bool { return !tr.AcceptIncoming && tr.SampleRatio == 0 }},
		{"ratio one", "sample_ratio = 1.0", "", func(tr Tracing) bool { return tr.SampleRatio == 1 }},
		{"timeout", `timeout = "250ms"`, "", func(tr Tracing) bool { return tr.Timeout.Std() == 250*time.Millisecond }},
		{"headers", `headers = { "x-api-key" = "abc", "Authorization" = "Bearer x y" }`, "",
			func(tr Tracing) bool {
				return tr.Headers["x-api-key"] == "abc" && tr.Headers["Authorization"] == "Bearer x y"
			}},

		{"scheme", `endpoint = "grpc://127.0.0.1:4317"`, "tracing.endpoint", nil},
		{"no scheme", `endpoint = "127.0.0.1:4318"`, "tracing.endpoint", nil},
		{"no host", `endpoint = "http:///v1/traces"`, "tracing.endpoint", nil},
		{"bad port", `endpoint = "http://127.0.0.1:0"`, "tracing.endpoint", nil},
		{"empty port", `endpoint = "http://127.0.0.1:"`, "tracing.endpoint", nil},
		{"query", `endpoint = "http://127.0.0.1:4318/v1/traces?k=v"`, "tracing.endpoint", nil},
		{"user info", `endpoint = "http://tok@127.0.0.1:4318"`, "tracing.endpoint", nil},
		{"unparsable", `endpoint = "http://%zz"`, "tracing.endpoint", nil},
		{"empty service name", `service_name = ""`, "tracing.service_name", nil},
		{"ratio above one", "sample_ratio = 1.01", "tracing.sample_ratio", nil},
		{"negative ratio", "sample_ratio = -0.5", "tracing.sample_ratio", nil},
		{"nan ratio", "sample_ratio = nan", "tracing.sample_ratio", nil},
		{"zero timeout", `timeout = "0s"`, "tracing.timeout", nil},
		{"header name", `headers = { "x key" = "v" }`, `tracing.headers."x key"`, nil},
		{"header value CRLF", `headers = { "k" = "SECRETVALUE\r\nX: 1" }`, "tracing.headers.k", nil},
		{"unknown key", `sampler = "always_on"`, "tracing.sampler", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := minimal + "[tracing]\n" + tc.table + "\n"
			c, err := Decode([]byte(doc), "testdata")
			if tc.wantPath == "" {
				if err != nil {
					t.Fatalf("Decode(%q) error: %v", tc.table, err)
				}
				if tc.check != nil && !tc.check(c.Tracing) {
					t.Errorf("Decode(%q).Tracing = %+v, not as written", tc.table, c.Tracing)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode(%q) = %v, want a *FieldError", tc.table, err)
			}
			if fe.Path != tc.wantPath {
				t.Errorf("Decode(%q) path = %q, want %q", tc.table, fe.Path, tc.wantPath)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("Decode(%q) = %v, quotes a header value", tc.table, err)
			}
		})
	}
}
