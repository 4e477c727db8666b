package otlp

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/edged/edged/trace"
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
		got, err := parseEndpoint(s)
		if err != nil {
			if !errors.Is(err, ErrEndpoint) {
				t.Fatalf("parseEndpoint(%q) = %v, want ErrEndpoint", s, err)
			}
			return
		}
		u, perr := url.Parse(got)
		in, _ := url.Parse(s)
		if perr != nil || u.Host == "" || u.Host != in.Host || u.Scheme != in.Scheme || !strings.HasPrefix(u.EscapedPath(), "/") ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("parseEndpoint(%q) = %q; want a valid http(s) endpoint on the same host", s, got)
		}
	})
}

// FuzzEncode: whatever a span holds (request bytes end up in names and
// attributes), the batch decodes with the official OTLP types and carries the
// span's ids, kind, cleaned strings and attributes.
func FuzzEncode(f *testing.F) {
	f.Add("GET /users", "/users/\xff\xfe", "vendor=a", "", int64(200), uint8(1), true)
	f.Add("", "", "", "refused", int64(-1), uint8(2), false)
	f.Fuzz(func(t *testing.T, name, attr, state, errText string, n int64, kind uint8, remote bool) {
		s := trace.Span{
			TraceID: traceID, SpanID: rootID, ParentID: remoteID, RemoteParent: remote, TraceState: state,
			Name: name, Kind: trace.Kind(kind % 4), Start: t0, End: t0.Add(time.Millisecond), Err: errText,
			Attrs: []trace.Attr{trace.Str("a", attr), trace.Int("n", n)},
		}
		enc := newEncoder([]trace.Attr{trace.Str("service.name", name)}, scopeName)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(enc.encode([]trace.Span{s, s}), &req); err != nil {
			t.Fatalf("encoded batch does not decode: %v", err)
		}
		got := req.ResourceSpans[0].ScopeSpans[0].Spans
		if len(got) != 2 {
			t.Fatalf("decoded %d spans, want 2", len(got))
		}
		g := got[1]
		if string(g.TraceId) != string(traceID[:]) || string(g.SpanId) != string(rootID[:]) ||
			g.Name != cleanString(name) || int(g.Kind) != []int{1, 2, 3, 5}[kind%4] {
			t.Fatalf("span decoded as %v", g)
		}
		if a := attrMap(g.Attributes); a["a"] != cleanString(attr) || a["n"] != n {
			t.Fatalf("attributes decoded as %v", a)
		}
		if (g.Status.GetMessage() != cleanString(errText)) || (errText != "") != (g.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR) {
			t.Fatalf("status decoded as %v", g.Status)
		}
	})
}
