package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP collector on loopback: it decodes each export
// and hands its spans, with the service name, to a channel.
type otlpReceiver struct {
	url   string
	spans chan receivedSpan
}

type receivedSpan struct {
	service string
	span    *tracepb.Span
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{spans: make(chan receivedSpan, 1024)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/traces in protobuf", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		var msg collectorpb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rs := range msg.GetResourceSpans() {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					r.spans <- receivedSpan{service, s}
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// trace collects spans of traceID until want names have all arrived.
func (r *otlpReceiver) trace(t *testing.T, traceID string, want ...string) map[string][]receivedSpan {
	t.Helper()
	got := map[string][]receivedSpan{}
	timeout := time.After(30 * time.Second)
	missing := func() []string {
		var m []string
		for _, n := range want {
			if len(got[n]) == 0 {
				m = append(m, n)
			}
		}
		return m
	}
	for len(missing()) > 0 {
		select {
		case s := <-r.spans:
			if hex.EncodeToString(s.span.GetTraceId()) == traceID {
				got[s.span.GetName()] = append(got[s.span.GetName()], s)
			}
		case <-timeout:
			t.Fatalf("trace %s: spans %v never arrived; got %v", traceID, missing(), keys(got))
		}
	}
	return got
}

func keys(m map[string][]receivedSpan) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

func tracingConfig(b *binaries, upstream, collector, fetchGuest string) string {
	return daemonTOML(b) + fmt.Sprintf(`

[tracing]
endpoint = %[2]q
service_name = "edged-test"

[upstreams.monolith]
url = %[1]q

[functions.fetch]
module = %[3]q
allowed_hosts = [%[1]q]

[[routes]]
name = "debug"
path = "/debug"
stage = "legacy"
upstream = "monolith"

[[routes]]
name = "fetch"
path = "/fetch"
stage = "retired"
function = "fetch"
`, upstream, collector, fetchGuest)
}

// TestTracing drives W3C Trace Context and OTLP export on a running edged: the
// client's trace reaches the monolith and a guest's subrequest, spans arrive at
// a real OTLP/HTTP receiver, log lines carry the trace id, and bad trace headers
// start a new trace instead of failing the request.
func TestTracing(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	_, monoURL := startMonolithProc(t, b)
	otlp := startOTLPReceiver(t)
	cfgPath := writeFile(t, dir, "router.toml",
		tracingConfig(b, monoURL, otlp.url, repoPath(t, "examples/guests/fetch/fetch.wasm")), 0o644)
	writeFile(t, dir, "admin.token", "admin-token-for-tests\n", 0o600)
	e := startEdged(t, b, nil, "serve", "-config", cfgPath)

	const (
		trace  = "4bf92f3577b34da6a3ce929d0e0e4736"
		parent = "00f067aa0ba902b7"
		tp     = "00-" + trace + "-" + parent + "-01"
	)
	t.Run("legacy continues the client's trace", func(t *testing.T) {
		code, _, body := get(t, e.public+"/debug/headers", "traceparent", tp, "tracestate", "rojo=1")
		if code != http.StatusOK {
			t.Fatalf("GET /debug/headers = %d", code)
		}
		h := echoedHeaders(t, body)
		got := h.Values("Traceparent")
		if len(got) != 1 || !strings.HasPrefix(got[0], "00-"+trace+"-") || strings.Contains(got[0], parent) {
			t.Fatalf("monolith saw traceparent %q, want the client's trace under a new parent", got)
		}
		if ts := h.Get("Tracestate"); ts != "rojo=1" {
			t.Errorf("monolith saw tracestate %q, want rojo=1", ts)
		}
		spans := otlp.trace(t, trace, "GET debug", "edged.match", "edged.legacy")
		root, legacy := spans["GET debug"][0], spans["edged.legacy"][0]
		if root.service != "edged-test" {
			t.Errorf("service.name %q, want edged-test", root.service)
		}
		if hex.EncodeToString(root.span.GetParentSpanId()) != parent || root.span.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
			t.Errorf("request span parent %x kind %v", root.span.GetParentSpanId(), root.span.GetKind())
		}
		if want := "00-" + trace + "-" + hex.EncodeToString(legacy.span.GetSpanId()) + "-01"; got[0] != want {
			t.Errorf("monolith saw %q, want the legacy span's %q", got[0], want)
		}
	})
	t.Run("guest fetch carries the trace", func(t *testing.T) {
		code, _, body := get(t, e.public+"/fetch?url="+monoURL+"/debug/headers", "traceparent", tp)
		if code != http.StatusOK {
			t.Fatalf("GET /fetch = %d %s", code, body)
		}
		var res struct{ Body string }
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatal(err)
		}
		spans := otlp.trace(t, trace, "GET fetch", "edged.instantiate", "edged.invoke", "edged.fetch")
		fetch := spans["edged.fetch"][0].span
		want := "00-" + trace + "-" + hex.EncodeToString(fetch.GetSpanId()) + "-01"
		if !strings.Contains(res.Body, want) {
			t.Errorf("the fetched monolith saw %s, want traceparent %s", res.Body, want)
		}
		if inv := spans["edged.invoke"][0].span; string(fetch.GetParentSpanId()) != string(inv.GetSpanId()) {
			t.Errorf("fetch span's parent %x is not the invoke span %x", fetch.GetParentSpanId(), inv.GetSpanId())
		}
	})
	t.Run("guest log lines carry the trace id", func(t *testing.T) {
		from := e.stderr.len()
		code, _, _ := get(t, e.public+"/fetch?url=http://169.254.169.254/latest/meta-data/", "traceparent", tp)
		if code != http.StatusBadGateway {
			t.Fatalf("GET /fetch to the metadata address = %d, want the guest's 502", code)
		}
		line, _ := e.stderr.wait(t, from, "fetch failed")
		if !strings.Contains(line, "trace_id="+trace) {
			t.Errorf("guest log line %q lacks trace_id=%s", line, trace)
		}
	})
	t.Run("bad trace headers start a new trace", func(t *testing.T) {
		tests := []struct{ name, value string }{
			{"garbage", "not-a-traceparent"},
			{"upper case", strings.ToUpper(tp)},
			{"huge", "00-" + strings.Repeat("a", 7000)},
			{"version ff", "ff" + tp[2:]},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				code, _, body := get(t, e.public+"/debug/headers", "traceparent", tc.value, "tracestate", "rojo=1")
				if code != http.StatusOK {
					t.Fatalf("GET = %d", code)
				}
				h := echoedHeaders(t, body)
				got := h.Values("Traceparent")
				if len(got) != 1 || strings.Contains(got[0], trace) || len(got[0]) != 55 {
					t.Errorf("monolith saw traceparent %q, want one new trace", got)
				}
				if ts := h.Values("Tracestate"); len(ts) != 0 {
					t.Errorf("monolith saw tracestate %q of a trace that was not continued", ts)
				}
			})
		}
	})
}
