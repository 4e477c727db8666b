package isolate

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// published is one event a recordingPublisher received.
type published struct {
	subject, ceType string
	data            []byte
	hasDeadline     bool
}

// recordingPublisher records what guests publish, or fails with err.
type recordingPublisher struct {
	mu     sync.Mutex
	events []published
	traces [][2]string // PublishTrace of each call's context
	err    error
}

func (p *recordingPublisher) Publish(ctx context.Context, subject, ceType string, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	_, ok := ctx.Deadline()
	p.events = append(p.events, published{subject, ceType, data, ok})
	tp, ts := PublishTrace(ctx)
	p.traces = append(p.traces, [2]string{tp, ts})
	return nil
}

func (p *recordingPublisher) got() []published {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]published(nil), p.events...)
}

func TestPublish(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	long := strings.Repeat("a.", 128) + "b" // 257 bytes
	tests := []struct {
		name    string
		opts    FunctionOptions
		noPub   bool
		pubErr  error
		headers []string
		body    string
		want    string // the guest's comma-separated codes
		events  []published
		count   int    // events published, when not listed in events
		log     string // a line the function's log must contain
	}{
		{name: "allowed by *", headers: []string{"x-subject", "orders.created", "x-type", "com.example.order"}, body: `{"id":1}`,
			want: "0", events: []published{{"orders.created", "com.example.order", []byte(`{"id":1}`), true}}},
		{name: "allowed by >", headers: []string{"x-subject", "jobs.split.7", "x-type", "t"}, body: "piece",
			want: "0", events: []published{{"jobs.split.7", "t", []byte("piece"), true}}},
		{name: "empty data", headers: []string{"x-subject", "orders.x", "x-type", "t"},
			want: "0", events: []published{{"orders.x", "t", []byte{}, true}}},
		{name: "denied subject", headers: []string{"x-subject", "payments.refund", "x-type", "t"}, body: "x",
			want: "-1", log: "guest publish denied"},
		{name: "* is one token", headers: []string{"x-subject", "orders.a.b", "x-type", "t"}, want: "-1"},
		{name: "> needs a token", headers: []string{"x-subject", "jobs", "x-type", "t"}, want: "-1"},
		{name: "nothing listed denies all", opts: FunctionOptions{Publish: []string{}}, headers: []string{"x-subject", "orders.x", "x-type", "t"}, want: "-1"},
		{name: "wildcard subject is invalid", headers: []string{"x-subject", "orders.*", "x-type", "t"}, want: "-6"},
		{name: "reserved subject is invalid", opts: FunctionOptions{Publish: []string{">"}}, headers: []string{"x-subject", "$JS.API.STREAM.DELETE.x", "x-type", "t"}, want: "-6"},
		{name: "empty token is invalid", headers: []string{"x-subject", "orders..x", "x-type", "t"}, want: "-6"},
		{name: "empty subject is invalid", headers: []string{"x-type", "t"}, want: "-6"},
		{name: "over-long subject is invalid", opts: FunctionOptions{Publish: []string{">"}}, headers: []string{"x-subject", long, "x-type", "t"}, want: "-6"},
		{name: "empty type is invalid", headers: []string{"x-subject", "orders.x"}, want: "-6"},
		{name: "type with a control byte is invalid", headers: []string{"x-subject", "orders.x", "x-type", "a\tb"}, want: "-6"},
		{name: "call budget", opts: FunctionOptions{MaxPublishes: 3}, headers: []string{"x-subject", "orders.x", "x-type", "t", "x-repeat", "5"}, body: "d",
			want: "0,0,0,-2,-2", events: []published{{"orders.x", "t", []byte("d"), true}, {"orders.x", "t", []byte("d"), true}, {"orders.x", "t", []byte("d"), true}}},
		{name: "denials use the call budget", opts: FunctionOptions{MaxPublishes: 2}, headers: []string{"x-subject", "payments.x", "x-type", "t", "x-repeat", "3"},
			want: "-1,-1,-2"},
		{name: "default call budget", headers: []string{"x-subject", "orders.x", "x-type", "t", "x-repeat", "65"},
			want: strings.Repeat("0,", DefaultMaxPublishes) + "-2", count: DefaultMaxPublishes},
		{name: "byte budget", opts: FunctionOptions{MaxPublishBytes: 10}, headers: []string{"x-subject", "orders.x", "x-type", "t", "x-repeat", "3"}, body: "abcd",
			want: "0,0,-2", events: []published{{"orders.x", "t", []byte("abcd"), true}, {"orders.x", "t", []byte("abcd"), true}}},
		{name: "oversized data", opts: FunctionOptions{MaxPublishBytes: 10}, headers: []string{"x-subject", "orders.x", "x-type", "t"}, body: "0123456789a",
			want: "-4"},
		{name: "length past memory over the cap is too large, not a trap", headers: []string{"x-subject", "orders.x", "x-type", "t", "x-data-len", "4294967295"},
			want: "-4"},
		{name: "no publisher", noPub: true, headers: []string{"x-subject", "orders.x", "x-type", "t"}, want: "-9"},
		{name: "publisher fails", pubErr: errors.New("no stream for subject"), headers: []string{"x-subject", "orders.x", "x-type", "t"},
			want: "-10", log: "no stream for subject"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			pub := &recordingPublisher{err: tc.pubErr}
			opts := tc.opts
			if opts.Publish == nil {
				opts.Publish = []string{"orders.*", "jobs.>"}
			}
			if !tc.noPub {
				opts.Publisher = pub
			}
			opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			f := load(t, rt, "testdata/publish.wasm", opts)
			var resp Response
			if err := f.Handle(context.Background(), newRequest("POST", "/", tc.body, tc.headers...), &resp, nil); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if string(resp.Body) != tc.want {
				t.Errorf("codes = %q, want %q", resp.Body, tc.want)
			}
			if v := resp.Header.GetString("x-abi"); v != "2" {
				t.Errorf("abi_version = %q, want 2", v)
			}
			got := pub.got()
			if want := max(tc.count, len(tc.events)); len(got) != want {
				t.Fatalf("published %d events %+v, want %d", len(got), got, want)
			}
			for i, e := range tc.events {
				g := got[i]
				if g.subject != e.subject || g.ceType != e.ceType || !bytes.Equal(g.data, e.data) || g.hasDeadline != e.hasDeadline {
					t.Errorf("event %d = %+v, want %+v", i, g, e)
				}
			}
			if tc.log != "" && !strings.Contains(logs.String(), tc.log) {
				t.Errorf("log %q does not contain %q", logs.String(), tc.log)
			}
		})
	}
}

// TestPublishBounds: a data range outside the guest's memory traps the call,
// as every other out-of-bounds range does; the host publishes nothing.
func TestPublishBounds(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	pub := &recordingPublisher{}
	f := load(t, rt, "testdata/publish.wasm", FunctionOptions{Publish: []string{">"}, Publisher: pub})
	var resp Response
	// The body sits at 65536 in a 131072-byte memory.
	err := f.Handle(context.Background(), newRequest("POST", "/", "", "x-subject", "a", "x-type", "t", "x-data-len", "65537"), &resp, nil)
	if !errors.Is(err, ErrTrap) {
		t.Fatalf("Handle = %v, want ErrTrap", err)
	}
	if got := pub.got(); len(got) != 0 {
		t.Errorf("published %+v, want nothing", got)
	}
}

// TestPublishPerInvocation: the budget is per invocation (a pooled instance
// starts each with a full one), and the publisher keeps its own copy of the
// data, which the guest overwrites in the next invocation.
func TestPublishPerInvocation(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	pub := &recordingPublisher{}
	var counted []int
	f := load(t, rt, "testdata/publish.wasm", FunctionOptions{Publish: []string{"a"}, Publisher: pub, MaxPublishes: 1, MaxInstances: 1,
		OnInvoke: func(inv Invocation) { counted = append(counted, inv.Publishes) }})
	for i, body := range []string{"first", "other"} {
		var resp Response
		if err := f.Handle(context.Background(), newRequest("POST", "/", body, "x-subject", "a", "x-type", "t", "x-repeat", "2"), &resp, nil); err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != "0,-2" {
			t.Errorf("invocation %d: codes = %q, want 0,-2", i, resp.Body)
		}
	}
	got := pub.got()
	if len(got) != 2 || string(got[0].data) != "first" || string(got[1].data) != "other" {
		t.Errorf("published %+v, want first then other", got)
	}
	if len(counted) != 2 || counted[0] != 1 || counted[1] != 1 {
		t.Errorf("Invocation.Publishes = %v, want [1 1]", counted)
	}
	if st := f.Stats(); st.ColdStarts != 1 {
		t.Errorf("cold starts = %d, want 1 (one pooled instance)", st.ColdStarts)
	}
}

func TestPublishOptions(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	tests := []struct {
		name string
		opts FunctionOptions
		want string
	}{
		{"empty pattern", FunctionOptions{Publish: []string{"a", ""}}, "publish[1]"},
		{"empty token", FunctionOptions{Publish: []string{"a..b"}}, "empty token"},
		{"> not last", FunctionOptions{Publish: []string{"a.>.b"}}, "last token"},
		{"wildcard in a token", FunctionOptions{Publish: []string{"a.b*"}}, "wildcard inside"},
		{"reserved", FunctionOptions{Publish: []string{"$KV.>"}}, "reserved"},
		{"space", FunctionOptions{Publish: []string{"a b"}}, "not allowed"},
		{"negative max publishes", FunctionOptions{MaxPublishes: -1}, "max publishes"},
		{"negative max publish bytes", FunctionOptions{MaxPublishBytes: -1}, "max publish bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := rt.Load(context.Background(), Source{Path: "testdata/publish.wasm"}, tc.opts)
			if err == nil {
				_ = f.Close(context.Background())
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestSubjectMatches(t *testing.T) {
	tests := []struct {
		pattern, subject string
		want             bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a", "a.b", false},
		{"a.b", "a", false},
		{"a.*", "a.b", true},
		{"a.*", "a", false},
		{"a.*", "a.b.c", false},
		{"*.b", "a.b", true},
		{"a.>", "a.b", true},
		{"a.>", "a.b.c", true},
		{"a.>", "a", false},
		{">", "a", true},
		{"*.*.>", "a.b", false},
		{"*.*.>", "a.b.c", true},
		{"ab", "a", false},
		{"a", "ab", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.subject, func(t *testing.T) {
			if err := checkSubject(tc.pattern, true); err != nil {
				t.Fatalf("pattern: %v", err)
			}
			if err := checkSubject(tc.subject, false); err != nil {
				t.Fatalf("subject: %v", err)
			}
			if got := subjectMatches(tc.pattern, tc.subject); got != tc.want {
				t.Errorf("subjectMatches(%q, %q) = %v, want %v", tc.pattern, tc.subject, got, tc.want)
			}
		})
	}
}

// FuzzSubjectMatches checks the matcher against a token-by-token model on
// valid inputs, and that checkSubject never panics.
func FuzzSubjectMatches(f *testing.F) {
	for _, s := range [][2]string{{"a.*", "a.b"}, {"a.>", "a.b.c"}, {">", "x"}, {"*.b", "a.c"}, {"a..b", "a"}, {"$JS.>", "$JS.x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, subject string) {
		pErr, sErr := checkSubject(pattern, true), checkSubject(subject, false)
		if pErr != nil || sErr != nil {
			return
		}
		pt, st := strings.Split(pattern, "."), strings.Split(subject, ".")
		want := len(pt) == len(st)
		if pt[len(pt)-1] == ">" {
			pt = pt[:len(pt)-1]
			want = len(st) > len(pt)
		}
		for i := 0; want && i < len(pt); i++ {
			want = pt[i] == "*" || pt[i] == st[i]
		}
		if got := subjectMatches(pattern, subject); got != want {
			t.Errorf("subjectMatches(%q, %q) = %v, want %v", pattern, subject, got, want)
		}
		if !subjectMatches(subject, subject) {
			t.Errorf("a subject does not match itself: %q", subject)
		}
	})
}

// TestPublishGoSDK runs guest.Publish of the Go SDK against the host: each
// host code reaches the guest as a *PublishError with its Kind and sentinel.
func TestPublishGoSDK(t *testing.T) {
	// The cache compiles the 5 MB Go guest once, not once per case.
	rt := newRuntime(t, RuntimeOptions{CacheDir: t.TempDir()})
	tests := []struct {
		name    string
		opts    FunctionOptions
		noPub   bool
		pubErr  error
		subject string
		body    string
		repeat  string
		want    string
		events  int
	}{
		{name: "published", subject: "orders.created", body: `{"id":1}`, want: "ok", events: 1},
		{name: "denied", subject: "payments.x", want: "denied ErrPublishDenied"},
		{name: "invalid", subject: "orders.>", want: "invalid ErrPublishInvalid"},
		{name: "too large", opts: FunctionOptions{MaxPublishBytes: 4}, subject: "orders.x", body: "12345", want: "too_large ErrPublishTooLarge"},
		{name: "exactly the byte budget", opts: FunctionOptions{MaxPublishBytes: 4}, subject: "orders.x", body: "1234", want: "ok", events: 1},
		{name: "budget", opts: FunctionOptions{MaxPublishes: 1}, subject: "orders.x", repeat: "2", want: "budget ErrPublishBudget", events: 1},
		{name: "unavailable", noPub: true, subject: "orders.x", want: "unavailable ErrPublishUnavailable"},
		{name: "failed", pubErr: errors.New("store full"), subject: "orders.x", want: "publish_failed ErrPublishFailed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub := &recordingPublisher{err: tc.pubErr}
			opts := tc.opts
			opts.Publish = []string{"orders.*"}
			if !tc.noPub {
				opts.Publisher = pub
			}
			f := load(t, rt, "testdata/gopublish/gopublish.wasm", opts)
			var resp Response
			req := newRequest("POST", "/", tc.body, "x-subject", tc.subject, "x-type", "com.example.t", "x-repeat", tc.repeat)
			if err := f.Handle(context.Background(), req, &resp, nil); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if string(resp.Body) != tc.want {
				t.Errorf("guest.Publish = %q, want %q", resp.Body, tc.want)
			}
			got := pub.got()
			if len(got) != tc.events {
				t.Fatalf("published %+v, want %d events", got, tc.events)
			}
			if tc.events == 1 && tc.body != "" && (got[0].subject != tc.subject || got[0].ceType != "com.example.t" || string(got[0].data) != tc.body) {
				t.Errorf("published %+v", got[0])
			}
		})
	}
}

// TestPublishAtStartUp: a publish from _initialize, outside any invocation,
// is UNAVAILABLE even with a publisher, and publishes nothing.
func TestPublishAtStartUp(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	pub := &recordingPublisher{}
	f := load(t, rt, "testdata/publish_init.wasm", FunctionOptions{Publish: []string{">"}, Publisher: pub})
	var resp Response
	if err := f.Handle(context.Background(), newRequest("GET", "/", ""), &resp, nil); err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "-9" {
		t.Errorf("code at start-up = %q, want -9", resp.Body)
	}
	if got := pub.got(); len(got) != 0 {
		t.Errorf("published %+v, want nothing", got)
	}
}

// BenchmarkPublish measures the host side of edged.publish (checks, copy,
// slot hand-off) around a publisher that stores nothing: the same request
// publishing 64 bytes zero times and once; the difference is the call.
func BenchmarkPublish(b *testing.B) {
	rt := newRuntime(b, RuntimeOptions{})
	pub := PublisherFunc(func(context.Context, string, string, []byte) error { return nil })
	f := load(b, rt, "testdata/publish.wasm", FunctionOptions{Publish: []string{"orders.*"}, Publisher: pub})
	for _, bc := range []struct{ name, repeat, want string }{{"none", "0", ""}, {"one", "1", "0"}} {
		b.Run(bc.name, func(b *testing.B) {
			req := newRequest("POST", "/", strings.Repeat("x", 64),
				"x-subject", "orders.created", "x-type", "com.example.order", "x-repeat", bc.repeat)
			var resp Response
			b.ReportAllocs()
			for b.Loop() {
				if err := f.Handle(context.Background(), req, &resp, nil); err != nil {
					b.Fatal(err)
				}
				if string(resp.Body) != bc.want {
					b.Fatalf("codes = %q, want %q", resp.Body, bc.want)
				}
			}
		})
	}
}

// TestPublishTrace: with an InvocationTrace whose Publish hook names the
// span handling the invocation, the Publisher's context carries that
// traceparent and tracestate (PublishTrace), so the event joins the trace;
// without a hook, or without a trace, it carries none.
func TestPublishTrace(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name  string
		trace *InvocationTrace
		want  [2]string
	}{
		{"hook", &InvocationTrace{Publish: func() (string, string) { return tp, "vendor=a" }}, [2]string{tp, "vendor=a"}},
		{"trace without the hook", &InvocationTrace{}, [2]string{}},
		{"no trace", nil, [2]string{}},
	}
	rt := newRuntime(t, RuntimeOptions{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub := &recordingPublisher{}
			f := load(t, rt, "testdata/publish.wasm", FunctionOptions{Publish: []string{">"}, Publisher: pub})
			ctx := context.Background()
			if tc.trace != nil {
				ctx = WithInvocationTrace(ctx, tc.trace)
			}
			var resp Response
			if err := f.Handle(ctx, newRequest("POST", "/", "d", "x-subject", "a", "x-type", "t"), &resp, nil); err != nil {
				t.Fatal(err)
			}
			pub.mu.Lock()
			defer pub.mu.Unlock()
			if len(pub.traces) != 1 || pub.traces[0] != tc.want {
				t.Errorf("publisher saw trace %q, want one call with %q", pub.traces, tc.want)
			}
		})
	}
}
