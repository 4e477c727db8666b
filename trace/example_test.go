package trace_test

import (
	"fmt"

	"github.com/edged/edged/trace"
)

func ExampleParseTraceparent() {
	tc, ok := trace.ParseTraceparent([]byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	fmt.Println(ok, tc.TraceID, tc.ParentID, tc.Sampled())

	// The next hop gets the same trace with edged's own span as its parent.
	next := tc.AppendTraceparent(nil, trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	fmt.Println(string(next))

	_, ok = trace.ParseTraceparent([]byte("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"))
	fmt.Println(ok)
	// Output:
	// true 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 true
	// 00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01
	// false
}

func ExampleValidTracestate() {
	for _, ts := range []string{"rojo=00f067aa0ba902b7, congo=t61rcWkgMzE", "Rojo=1", "a=b=c"} {
		fmt.Println(trace.ValidTracestate([]byte(ts)))
	}
	// Output:
	// true
	// false
	// false
}

// printer is an Exporter that prints what it gets; a real one (internal/otlp)
// copies the spans into a queue and returns at once.
type printer struct{}

func (printer) ExportSpans(spans []trace.Span) {
	for _, s := range spans {
		fmt.Printf("%s kind=%d parent=%s attrs=%d err=%q\n", s.Name, s.Kind, s.ParentID, len(s.Attrs), s.Err)
	}
}

func ExampleExporter() {
	var exp trace.Exporter = printer{}
	tc, _ := trace.ParseTraceparent([]byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	root := trace.SpanID{1}
	exp.ExportSpans([]trace.Span{
		{TraceID: tc.TraceID, SpanID: root, ParentID: tc.ParentID, RemoteParent: true, Name: "GET users",
			Kind: trace.KindServer, Attrs: []trace.Attr{trace.Int("http.response.status_code", 502)}, Err: "Bad Gateway"},
		{TraceID: tc.TraceID, SpanID: trace.SpanID{2}, ParentID: root, Name: "edged.legacy", Kind: trace.KindClient,
			Attrs: []trace.Attr{trace.Str("edged.upstream", "mono"), trace.Int("http.response.status_code", 502)}},
	})
	// Output:
	// GET users kind=1 parent=00f067aa0ba902b7 attrs=1 err="Bad Gateway"
	// edged.legacy kind=2 parent=0100000000000000 attrs=2 err=""
}
