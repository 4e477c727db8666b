package otlp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/edged/edged/trace"
)

// export is one request the test collector received.
type export struct {
	path   string
	header http.Header
	req    *coltracepb.ExportTraceServiceRequest
}

// collector is an OTLP/HTTP receiver on loopback. Every request it decodes
// goes to exports (buffered generously, so the exporter never waits on the
// test); status, when set, decides the answer.
type collector struct {
	*httptest.Server
	exports chan export
}

func newCollector(t *testing.T, status func(*http.Request) int) *collector {
	t.Helper()
	c := &collector{exports: make(chan export, 1024)}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
			t.Errorf("collector: Content-Type = %q, want application/x-protobuf", ct)
		}
		req := new(coltracepb.ExportTraceServiceRequest)
		if err := proto.Unmarshal(body, req); err != nil {
			t.Errorf("collector: decode body: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.exports <- export{path: r.URL.Path, header: r.Header.Clone(), req: req}
		code := http.StatusOK
		if status != nil {
			code = status(r)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(c.Close)
	return c
}

// spans drains what has been received so far.
func (c *collector) spans() (out []*tracepb.Span, exports []export) {
	for {
		select {
		case e := <-c.exports:
			exports = append(exports, e)
			for _, rs := range e.req.ResourceSpans {
				for _, ss := range rs.ScopeSpans {
					out = append(out, ss.Spans...)
				}
			}
		default:
			return out, exports
		}
	}
}

func newExporter(t *testing.T, o Options) *Exporter {
	t.Helper()
	e, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("New(%+v) error: %v", o, err)
	}
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e
}

var (
	traceID  = trace.ID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	remoteID = trace.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	rootID   = trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}
	childID  = trace.SpanID{9, 10, 11, 12, 13, 14, 15, 16}
	fetchID  = trace.SpanID{17, 18, 19, 20, 21, 22, 23, 24}
	eventID  = trace.SpanID{25, 26, 27, 28, 29, 30, 31, 32}
	t0       = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
)

// requestSpans are the spans of one request: a server span continuing a
// client's trace, an internal child and a failed client span.
func requestSpans() []trace.Span {
	return []trace.Span{
		{TraceID: traceID, SpanID: rootID, ParentID: remoteID, RemoteParent: true, TraceState: "vendor=a,other=b",
			Name: "GET /users", Kind: trace.KindServer, Start: t0, End: t0.Add(3 * time.Millisecond),
			Attrs: []trace.Attr{trace.Str("http.request.method", "GET"), trace.Int("http.response.status_code", 502)}},
		{TraceID: traceID, SpanID: childID, ParentID: rootID, TraceState: "vendor=a,other=b",
			Name: "invoke users", Kind: trace.KindInternal, Start: t0.Add(time.Millisecond), End: t0.Add(2 * time.Millisecond),
			Attrs: []trace.Attr{trace.Str("edged.function", "users")}},
		{TraceID: traceID, SpanID: fetchID, ParentID: rootID, TraceState: "vendor=a,other=b",
			Name: "proxy monolith", Kind: trace.KindClient, Start: t0.Add(2 * time.Millisecond), End: t0.Add(3 * time.Millisecond),
			Err: "upstream refused connection"},
	}
}

// eventSpan is the consumer span of an event the request's function
// published, delivered to a trigger in the same trace.
func eventSpan() trace.Span {
	return trace.Span{TraceID: traceID, SpanID: eventID, ParentID: childID, RemoteParent: true, TraceState: "vendor=a,other=b",
		Name: "edged.event", Kind: trace.KindConsumer, Start: t0.Add(2 * time.Millisecond), End: t0.Add(3 * time.Millisecond),
		Attrs: []trace.Attr{trace.Str("edged.trigger", "orders")}}
}

func TestExportOTLP(t *testing.T) {
	col := newCollector(t, nil)
	e := newExporter(t, Options{
		Endpoint: col.URL, Headers: map[string]string{"X-Api-Key": "k1"},
		ServiceName: "edge-eu", ServiceVersion: "1.2.3",
	})
	in := append(requestSpans(), eventSpan())
	e.ExportSpans(in)
	// The router reuses its spans after ExportSpans returns.
	for i := range in {
		in[i].SpanID = trace.SpanID{0xff}
		for j := range in[i].Attrs {
			in[i].Attrs[j] = trace.Str("reused", "reused")
		}
	}
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown() = %v, want nil", err)
	}
	spans, exports := col.spans()
	if len(exports) == 0 {
		t.Fatal("collector received nothing")
	}
	ex := exports[0]
	if ex.path != "/v1/traces" {
		t.Errorf("export path = %q, want /v1/traces", ex.path)
	}
	if got := ex.header.Get("X-Api-Key"); got != "k1" {
		t.Errorf("header X-Api-Key = %q, want k1", got)
	}
	rs := ex.req.ResourceSpans[0]
	res := attrMap(rs.Resource.Attributes)
	if res["service.name"] != "edge-eu" || res["service.version"] != "1.2.3" {
		t.Errorf("resource = %v, want service.name edge-eu and service.version 1.2.3", res)
	}
	if got := rs.ScopeSpans[0].Scope.GetName(); got != scopeName {
		t.Errorf("scope = %q, want %q", got, scopeName)
	}
	if len(spans) != 4 {
		t.Fatalf("received %d spans, want 4", len(spans))
	}
	byName := map[string]*tracepb.Span{}
	for _, s := range spans {
		byName[s.Name] = s
		if string(s.TraceId) != string(traceID[:]) {
			t.Errorf("span %q trace id = %x, want %x", s.Name, s.TraceId, traceID)
		}
		if s.TraceState != "vendor=a,other=b" {
			t.Errorf("span %q tracestate = %q, want vendor=a,other=b", s.Name, s.TraceState)
		}
	}

	tests := []struct {
		name           string
		id, parent     trace.SpanID
		kind           tracepb.Span_SpanKind
		remote         bool
		attrs          map[string]any
		status         tracepb.Status_StatusCode
		statusMsg      string
		start, durNano uint64
	}{
		{"GET /users", rootID, remoteID, tracepb.Span_SPAN_KIND_SERVER, true,
			map[string]any{"http.request.method": "GET", "http.response.status_code": int64(502)},
			tracepb.Status_STATUS_CODE_UNSET, "", 0, 3e6},
		{"invoke users", childID, rootID, tracepb.Span_SPAN_KIND_INTERNAL, false,
			map[string]any{"edged.function": "users"}, tracepb.Status_STATUS_CODE_UNSET, "", 1e6, 1e6},
		{"proxy monolith", fetchID, rootID, tracepb.Span_SPAN_KIND_CLIENT, false,
			map[string]any{}, tracepb.Status_STATUS_CODE_ERROR, "upstream refused connection", 2e6, 1e6},
		{"edged.event", eventID, childID, tracepb.Span_SPAN_KIND_CONSUMER, true,
			map[string]any{"edged.trigger": "orders"}, tracepb.Status_STATUS_CODE_UNSET, "", 2e6, 1e6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := byName[tc.name]
			if s == nil {
				t.Fatalf("span %q not received", tc.name)
			}
			if string(s.SpanId) != string(tc.id[:]) || string(s.ParentSpanId) != string(tc.parent[:]) {
				t.Errorf("span %q ids = %x parent %x, want %x parent %x", tc.name, s.SpanId, s.ParentSpanId, tc.id, tc.parent)
			}
			if s.Kind != tc.kind {
				t.Errorf("span %q kind = %v, want %v", tc.name, s.Kind, tc.kind)
			}
			const hasRemote, isRemote = uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK), uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK)
			if got := s.Flags&hasRemote != 0 && s.Flags&isRemote != 0; got != tc.remote {
				t.Errorf("span %q flags = %#x: remote parent %v, want %v", tc.name, s.Flags, got, tc.remote)
			}
			if got := attrMap(s.Attributes); !equalAttrs(got, tc.attrs) {
				t.Errorf("span %q attributes = %v, want %v", tc.name, got, tc.attrs)
			}
			if s.Status.GetCode() != tc.status || s.Status.GetMessage() != tc.statusMsg {
				t.Errorf("span %q status = %v %q, want %v %q", tc.name, s.Status.GetCode(), s.Status.GetMessage(), tc.status, tc.statusMsg)
			}
			if s.StartTimeUnixNano != uint64(t0.UnixNano())+tc.start || s.EndTimeUnixNano-s.StartTimeUnixNano != tc.durNano {
				t.Errorf("span %q start %d duration %d, want %d and %d", tc.name, s.StartTimeUnixNano,
					s.EndTimeUnixNano-s.StartTimeUnixNano, uint64(t0.UnixNano())+tc.start, tc.durNano)
			}
		})
	}
	if e.Dropped() != 0 || e.Failed() != 0 {
		t.Errorf("Dropped() = %d, Failed() = %d, want 0 and 0", e.Dropped(), e.Failed())
	}
}

func attrMap(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = v.IntValue
		default:
			m[kv.Key] = kv.Value.String()
		}
	}
	return m
}

func equalAttrs(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestEndpointPath: a base URL gets /v1/traces, a full URL is used as is.
func TestEndpointPath(t *testing.T) {
	tests := []struct{ name, suffix, want string }{
		{"base", "", "/v1/traces"},
		{"root", "/", "/v1/traces"},
		{"full", "/otlp/custom/traces", "/otlp/custom/traces"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			col := newCollector(t, nil)
			e := newExporter(t, Options{Endpoint: col.URL + tc.suffix})
			e.ExportSpans(requestSpans()[:1])
			if err := e.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown() = %v", err)
			}
			_, exports := col.spans()
			if len(exports) != 1 || exports[0].path != tc.want {
				t.Fatalf("New(%q) exported %d requests, first to %v; want 1 to %q", col.URL+tc.suffix, len(exports), exports, tc.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want error
	}{
		{"empty", Options{}, ErrEndpoint},
		{"no scheme", Options{Endpoint: "127.0.0.1:4318"}, ErrEndpoint},
		{"grpc", Options{Endpoint: "grpc://127.0.0.1:4317"}, ErrEndpoint},
		{"ftp", Options{Endpoint: "ftp://collector.example"}, ErrEndpoint},
		{"no host", Options{Endpoint: "http:///v1/traces"}, ErrEndpoint},
		{"opaque", Options{Endpoint: "http:collector"}, ErrEndpoint},
		{"user info", Options{Endpoint: "https://user:hunter2@collector.example"}, ErrEndpoint},
		{"query", Options{Endpoint: "http://127.0.0.1:4318/v1/traces?x=1"}, ErrEndpoint},
		{"fragment", Options{Endpoint: "http://127.0.0.1:4318/#f"}, ErrEndpoint},
		{"port zero", Options{Endpoint: "http://127.0.0.1:0"}, ErrEndpoint},
		{"empty port", Options{Endpoint: "http://127.0.0.1:"}, ErrEndpoint},
		{"bad escape", Options{Endpoint: "http://%zz"}, ErrEndpoint},
		{"negative timeout", Options{Endpoint: "http://127.0.0.1:4318", Timeout: -time.Second}, ErrOptions},
		{"negative queue", Options{Endpoint: "http://127.0.0.1:4318", QueueSize: -1}, ErrOptions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(context.Background(), tc.o)
			if !errors.Is(err, tc.want) {
				if e != nil {
					_ = e.Shutdown(context.Background())
				}
				t.Fatalf("New(%q) = %v, want %v", tc.o.Endpoint, err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "user:") {
				t.Errorf("New(%q) = %v, quotes the user info", tc.o.Endpoint, err)
			}
		})
	}
}

// TestHangingCollector: while the collector holds an export open, the queue
// fills and ExportSpans goes on returning at once, dropping and counting.
func TestHangingCollector(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	col := newCollector(t, func(r *http.Request) int {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	defer close(release) // before col.Close, which waits for the handler
	const queue = 4
	e := newExporter(t, Options{Endpoint: col.URL, QueueSize: queue, Timeout: time.Minute})

	// A full batch (the queue size) is exported at once, and hangs.
	one := requestSpans()[:1]
	for range queue {
		e.ExportSpans(one)
	}
	<-arrived

	const calls = 1000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range calls {
			e.ExportSpans(requestSpans())
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ExportSpans blocked on a hanging collector")
	}
	if got, want := e.Dropped(), uint64(calls*len(requestSpans())); got != want {
		t.Errorf("Dropped() = %d, want %d", got, want)
	}
}

// TestUnavailableCollector: 503 answers are retried within Timeout, then the
// batch counts as failed; ExportSpans and Shutdown still return.
func TestUnavailableCollector(t *testing.T) {
	col := newCollector(t, func(*http.Request) int { return http.StatusServiceUnavailable })
	var logs bytes.Buffer
	e := newExporter(t, Options{
		Endpoint: col.URL, Timeout: 200 * time.Millisecond, Headers: map[string]string{"X-Api-Key": "SECRETKEY"},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	e.ExportSpans(requestSpans())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() = %v, want nil (failures are counted, not returned)", err)
	}
	if got := e.Failed(); got != 3 {
		t.Errorf("Failed() = %d, want 3", got)
	}
	if _, exports := col.spans(); len(exports) == 0 {
		t.Error("collector received no attempt")
	}
	e.ExportSpans(requestSpans()) // after Shutdown: ignored, not counted
	if e.Dropped() != 0 || e.Failed() != 3 {
		t.Errorf("after Shutdown: Dropped() = %d, Failed() = %d, want 0 and 3", e.Dropped(), e.Failed())
	}
	if err := e.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown() = %v, want nil", err)
	}
	if n := strings.Count(logs.String(), "trace export failing"); n != 1 || strings.Contains(logs.String(), "SECRETKEY") {
		t.Errorf("logs = %q, want one failure record and no header value", logs.String())
	}
}

// TestConcurrentExport: from many goroutines, every span is either received
// or counted as dropped, never lost or duplicated.
func TestConcurrentExport(t *testing.T) {
	col := newCollector(t, nil)
	e := newExporter(t, Options{Endpoint: col.URL, QueueSize: 64})
	const workers, calls = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			spans := requestSpans()
			for i := range calls {
				for j := range spans {
					spans[j].SpanID = trace.SpanID{byte(w), byte(i), byte(i >> 8), byte(j), 1}
				}
				e.ExportSpans(spans)
			}
		})
	}
	// Drain the collector meanwhile, so its buffer never fills.
	received := make(map[trace.SpanID]bool)
	drained := make(chan struct{})
	var dup int
	go func() {
		defer close(drained)
		for ex := range col.exports {
			for _, rs := range ex.req.ResourceSpans {
				for _, ss := range rs.ScopeSpans {
					for _, s := range ss.Spans {
						id := trace.SpanID(s.SpanId)
						if received[id] {
							dup++
						}
						received[id] = true
					}
				}
			}
		}
	}()
	wg.Wait()
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	col.Close() // no more handlers run: safe to close the channel
	close(col.exports)
	<-drained
	total := uint64(workers * calls * len(requestSpans()))
	if got := uint64(len(received)) + e.Dropped(); got != total || dup != 0 {
		t.Errorf("received %d + Dropped() %d = %d (duplicates %d), want %d and none", len(received), e.Dropped(), got, dup, total)
	}
	if e.Failed() != 0 {
		t.Errorf("Failed() = %d, want 0", e.Failed())
	}
}

// BenchmarkExportSpans measures ExportSpans with the five spans of a
// request. "queue" is the cost on the request goroutine alone (the queue is
// emptied with the timer stopped). "encode" is the sending goroutine's
// protobuf encoding, per request's five spans, in batches of 512. "export"
// is the whole cost, batching, encoding and OTLP/HTTP export to a loopback
// collector included (their allocations are counted too): the queue is
// flushed, and the flush waited for, every 100 calls (500 spans, one batch),
// so the accepted path is measured, not the cheaper drop path.
func BenchmarkExportSpans(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	spans := append(requestSpans(), requestSpans()[1:]...)[:5]

	b.Run("queue", func(b *testing.B) {
		e, err := New(context.Background(), Options{Endpoint: srv.URL, QueueSize: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Shutdown(context.Background())
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			e.ExportSpans(spans)
			if i++; i%256 == 0 {
				b.StopTimer()
				e.mu.Lock()
				clear(e.queue)
				e.queue, e.attrs, e.pending = e.queue[:0], e.attrs[:0], 0
				e.mu.Unlock()
				b.StartTimer()
			}
		}
	})

	b.Run("encode", func(b *testing.B) {
		enc := newEncoder([]trace.Attr{trace.Str("service.name", "edged")}, scopeName)
		batch := make([]trace.Span, 0, 510)
		for len(batch) < 510 {
			batch = append(batch, spans...)
		}
		b.ReportAllocs()
		for b.Loop() {
			_ = enc.encode(batch)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(batch)/len(spans)), "ns/request")
	})

	b.Run("export", func(b *testing.B) {
		const flushEvery = 100
		e, err := New(context.Background(), Options{Endpoint: srv.URL, QueueSize: 8 * flushEvery * len(spans)})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			e.ExportSpans(spans)
			if i++; i%flushEvery == 0 {
				// Waiting for the export inside the timer puts the sending
				// goroutine's work in ns/op even when it ran on another core.
				if err := e.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		if err := e.Shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
		if e.Dropped() != 0 || e.Failed() != 0 {
			b.Fatalf("Dropped() = %d, Failed() = %d, want 0 and 0", e.Dropped(), e.Failed())
		}
	})
}

func TestZeroIDsDropped(t *testing.T) {
	col := newCollector(t, nil)
	e := newExporter(t, Options{Endpoint: col.URL})
	spans := requestSpans()
	spans[1].TraceID = trace.ID{}
	spans[2].SpanID = trace.SpanID{}
	e.ExportSpans(spans)
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if got, _ := col.spans(); len(got) != 1 || e.Dropped() != 2 {
		t.Errorf("exported %d spans, Dropped() = %d; want 1 and 2", len(got), e.Dropped())
	}
}
