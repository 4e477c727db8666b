package isolate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/limits"
)

// traceRecorder is an InvocationTrace that writes down what it is told.
type traceRecorder struct {
	mu     sync.Mutex
	events []string
}

func (r *traceRecorder) add(format string, args ...any) {
	r.mu.Lock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *traceRecorder) hooks() *InvocationTrace {
	return &InvocationTrace{
		Acquired: func(cold bool, start, end time.Time, err error) {
			r.add("acquired cold=%v ordered=%v err=%v", cold, !end.Before(start), err != nil)
		},
		Called: func(export string, start, end time.Time, err error) {
			r.add("called %s ordered=%v err=%v", export, !end.Before(start), err != nil)
		},
		Fetch: func(req *http.Request) func(int, error) {
			req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
			return func(status int, err error) { r.add("fetched %d err=%v", status, err != nil) }
		},
	}
}

// TestInvocationTrace checks that the hooks see every lifecycle stage, in
// order, with cold and warm starts told apart, and that a guest's fetch
// carries what the Fetch hook sets.
func TestInvocationTrace(t *testing.T) {
	var seen bytes.Buffer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.WriteString(r.Header.Get("Traceparent"))
		_, _ = w.Write([]byte("origin"))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, err := limits.ParsePattern("http://127.0.0.1:" + port)
	if err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t, RuntimeOptions{})
	next := load(t, rt, tdNext, FunctionOptions{})
	trap := load(t, rt, "testdata/trap.wasm", FunctionOptions{})
	fetch := load(t, rt, "../examples/guests/fetch/fetch.wasm", FunctionOptions{
		Policy: limits.Policy{Egress: limits.Egress{Allow: []limits.Pattern{p}}}})
	upstream := func(_ context.Context, _ *Request, resp *Response) error { resp.Status = 200; return nil }

	tests := []struct {
		name string
		f    *Function
		req  *Request
		next Next
		want []string
	}{
		{"next guest, cold", next, newRequest("GET", "/", ""), upstream, []string{
			"acquired cold=true ordered=true err=false",
			"called handle_request ordered=true err=false",
			"called handle_response ordered=true err=false"}},
		{"next guest, warm", next, newRequest("GET", "/", ""), upstream, []string{
			"acquired cold=false ordered=true err=false",
			"called handle_request ordered=true err=false",
			"called handle_response ordered=true err=false"}},
		{"trap", trap, newRequest("GET", "/", ""), nil, []string{
			"acquired cold=true ordered=true err=false",
			"called handle_request ordered=true err=true"}},
		{"fetch allowed", fetch, newRequest("GET", "/fetch?url="+srv.URL+"/x", ""), nil, []string{
			"acquired cold=true ordered=true err=false",
			"fetched 200 err=false",
			"called handle_request ordered=true err=false"}},
		{"fetch denied", fetch, newRequest("GET", "/fetch?url=http://169.254.169.254/", ""), nil, []string{
			"acquired cold=false ordered=true err=false",
			"fetched 0 err=true",
			"called handle_request ordered=true err=false"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec traceRecorder
			ctx := WithInvocationTrace(context.Background(), rec.hooks())
			var resp Response
			_ = tc.f.Handle(ctx, tc.req, &resp, tc.next)
			if got, want := strings.Join(rec.events, "\n"), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("hooks saw\n%s\nwant\n%s", got, want)
			}
		})
	}
	if got, want := seen.String(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"; got != want {
		t.Errorf("origin saw traceparent %q, want %q", got, want)
	}
}

// TestInvocationTraceLogs checks that guest log lines carry the trace id.
func TestInvocationTraceLogs(t *testing.T) {
	var logs bytes.Buffer
	rt := newRuntime(t, RuntimeOptions{})
	f := load(t, rt, tdBody, FunctionOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := WithInvocationTrace(context.Background(), &InvocationTrace{TraceID: [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}})
	var resp Response
	if err := f.Handle(ctx, newRequest("POST", "/", "x"), &resp, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Handle(context.Background(), newRequest("POST", "/", "x"), &resp, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want 2:\n%s", len(lines), logs.String())
	}
	if !strings.Contains(lines[0], "trace_id=4bf92f3577b34da6a3ce929d0e0e4736") {
		t.Errorf("traced log line %q lacks the trace id", lines[0])
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("untraced log line %q has a trace id", lines[1])
	}
}

// TestInvocationTraceNil checks that hooks left nil are skipped.
func TestInvocationTraceNil(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	f := load(t, rt, tdNext, FunctionOptions{})
	var resp Response
	err := f.Handle(WithInvocationTrace(context.Background(), &InvocationTrace{}), newRequest("GET", "/", ""), &resp,
		func(context.Context, *Request, *Response) error { return errors.New("down") })
	if err == nil || err.Error() != "down" {
		t.Fatalf("Handle = %v, want the upstream's error", err)
	}
}
