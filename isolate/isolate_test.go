package isolate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edged/edged/limits"
)

// Test guests: .wat sources in testdata/ and the example guests, built by
// examples/build-guests.sh and committed; CI rebuilds them and fails on a diff.

func newRuntime(t testing.TB, opts RuntimeOptions) *Runtime {
	t.Helper()
	rt, err := NewRuntime(context.Background(), opts)
	if err != nil {
		t.Fatalf("NewRuntime: %v", err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return rt
}

func load(t testing.TB, rt *Runtime, path string, opts FunctionOptions) *Function {
	t.Helper()
	if opts.Name == "" {
		opts.Name = path
	}
	f, err := rt.Load(context.Background(), Source{Path: path}, opts)
	if err != nil {
		t.Fatalf("Load(%q): %v", path, err)
	}
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	return f
}

func newRequest(method, uri, body string, headers ...string) *Request {
	r := &Request{
		Method:     []byte(method),
		URI:        []byte(uri),
		Protocol:   []byte("HTTP/1.1"),
		Body:       []byte(body),
		RemoteAddr: []byte("192.0.2.7:54321"),
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.AddString(headers[i], headers[i+1])
	}
	return r
}

func headerValues(h *Header, name string) []string {
	var out []string
	for i := 0; i < h.Len(); i++ {
		if k, v := h.At(i); strings.EqualFold(string(k), name) {
			out = append(out, string(v))
		}
	}
	return out
}

const (
	cGuest     = "../examples/guests/hello-c/hello-c.wasm"
	goHello    = "../examples/guests/hello/hello.wasm"
	goAuth     = "../examples/guests/authmw/authmw.wasm"
	tdHeaders  = "testdata/headers.wasm"
	tdBody     = "testdata/body.wasm"
	tdNext     = "testdata/next.wasm"
	tdTrailers = "testdata/trailers.wasm"
)

func TestConformance(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	tests := []struct {
		name   string
		guest  string
		opts   FunctionOptions
		req    *Request
		status int
		body   string
		header map[string][]string // expected response header values
	}{
		{
			name:   "headers",
			guest:  tdHeaders,
			req:    newRequest("GET", "/h?x=1", "", "X-In", "a", "x-in", "b", "Other", "o"),
			status: 201,
			body:   "GET /h?x=1 HTTP/1.1\n",
			header: map[string][]string{
				"x-header-count": {"2"}, "x-in-values": {"a,b"}, "x-source-addr": {"192.0.2.7:54321"},
				"x-set": {"2"}, "x-add": {"a", "b"}, "x-removed": nil,
			},
		},
		{
			name:   "body",
			guest:  tdBody,
			opts:   FunctionOptions{Config: []byte("cfg=1")},
			req:    newRequest("POST", "/b", "01234567890123456789"),
			status: 200,
			body:   "echo:01234567890123456789",
			header: map[string][]string{"x-body-len": {"20"}, "x-features": {"0"}, "x-config": {"cfg=1"}},
		},
		{
			name:  "trailers",
			guest: tdTrailers,
			// edged does not support trailers: enable_features(4) answers
			// without the bit, and the guest takes its fallback.
			req:    newRequest("POST", "/t", "x"),
			status: 200,
			body:   "trailers unsupported\n",
			header: map[string][]string{"x-request-trailer-count": nil, "x-req-trailer": nil},
		},
		{
			name:   "c guest",
			guest:  cGuest,
			req:    newRequest("GET", "/fast", ""),
			status: 200,
			body:   "Hello from C\n",
		},
		{
			name:   "c guest echo",
			guest:  cGuest,
			req:    newRequest("POST", "/fast/echo", strings.Repeat("e", 1024)),
			status: 200,
			body:   strings.Repeat("e", 1024),
		},
		{
			name:   "go guest",
			guest:  goHello,
			req:    newRequest("GET", "/hello", ""),
			status: 200,
			body:   "Hello from the isolate\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := load(t, rt, tc.guest, tc.opts)
			var resp Response
			if err := f.Handle(context.Background(), tc.req, &resp, nil); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if resp.Status != tc.status || string(resp.Body) != tc.body {
				t.Errorf("Handle = %d %q, want %d %q", resp.Status, resp.Body, tc.status, tc.body)
			}
			for name, want := range tc.header {
				if got := headerValues(&resp.Header, name); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("header %q = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestNextMiddleware(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	f := load(t, rt, tdNext, FunctionOptions{})
	var seen Request
	upstream := func(_ context.Context, req *Request, resp *Response) error {
		req.CopyTo(&seen)
		resp.Status = 200
		resp.Header.AddString("X-Upstream-Drop", "secret")
		resp.Header.AddString("Content-Type", "text/plain")
		resp.Body = append(resp.Body[:0], "upstream body"...)
		return nil
	}
	req := newRequest("GET", "/orig", "client body", "X-Multi", "a", "X-Drop", "gone")
	var resp Response
	if err := f.Handle(context.Background(), req, &resp, upstream); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	checks := []struct{ name, got, want string }{
		{"upstream method", string(seen.Method), "PUT"},
		{"upstream uri", string(seen.URI), "/rewritten?by=next"},
		{"upstream x-next", fmt.Sprint(headerValues(&seen.Header, "x-next")), "[1]"},
		{"upstream x-multi", fmt.Sprint(headerValues(&seen.Header, "x-multi")), "[a b]"},
		{"upstream x-drop", fmt.Sprint(headerValues(&seen.Header, "x-drop")), "[]"},
		{"upstream body", string(seen.Body), "replaced request body"},
		{"status", fmt.Sprint(resp.Status), "203"},
		{"x-upstream-status", fmt.Sprint(headerValues(&resp.Header, "x-upstream-status")), "[200]"},
		{"x-upstream-drop", fmt.Sprint(headerValues(&resp.Header, "x-upstream-drop")), "[]"},
		{"body", string(resp.Body), "wrapped:upstream body"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}

	t.Run("upstream error", func(t *testing.T) {
		boom := errors.New("upstream down")
		err := f.Handle(context.Background(), newRequest("GET", "/", ""), &resp, func(context.Context, *Request, *Response) error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("Handle = %v, want %v", err, boom)
		}
		if got := headerValues(&resp.Header, "x-is-error"); fmt.Sprint(got) != "[1]" {
			t.Errorf("x-is-error = %q, want [1]", got)
		}
	})
	t.Run("no next handler", func(t *testing.T) {
		if err := f.Handle(context.Background(), newRequest("GET", "/", ""), &resp, nil); !errors.Is(err, ErrNoNext) {
			t.Fatalf("Handle = %v, want ErrNoNext", err)
		}
	})
}

func TestLimits(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	tests := []struct {
		name    string
		guest   string
		policy  limits.Policy
		req     *Request
		wantErr error
		status  int // StatusOf(err)
		body    string
	}{
		{"runaway loop", "testdata/loop.wasm", limits.Policy{Timeout: 50 * time.Millisecond}, newRequest("GET", "/", ""), ErrDeadline, 504, ""},
		{"runaway recursion without loops", "testdata/recurse.wasm", limits.Policy{Timeout: 50 * time.Millisecond}, newRequest("GET", "/", ""), ErrDeadline, 504, ""},
		{"trap", "testdata/trap.wasm", limits.Policy{}, newRequest("GET", "/", ""), ErrTrap, 502, ""},
		{"response body over the cap", "testdata/bigoutput.wasm", limits.Policy{MaxResponseBody: limits.MiB}, newRequest("GET", "/", ""), ErrBodyTooLarge, 502, ""},
		{"request body over the cap", tdBody, limits.Policy{MaxRequestBody: 16}, newRequest("POST", "/", strings.Repeat("x", 17)), ErrBodyTooLarge, 413, ""},
		{"memory growth stops at the cap", "testdata/memhog.wasm", limits.Policy{Memory: 2 * limits.MiB}, newRequest("GET", "/", ""), nil, 200, "grown 31 pages"},
		{"go guest spinning", "testdata/goloop/goloop.wasm", limits.Policy{Timeout: 100 * time.Millisecond}, newRequest("GET", "/", ""), ErrDeadline, 504, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := load(t, rt, tc.guest, FunctionOptions{Policy: tc.policy})
			var resp Response
			err := f.Handle(context.Background(), tc.req, &resp, nil)
			if tc.wantErr == nil && err != nil || !errors.Is(err, tc.wantErr) {
				t.Fatalf("Handle = %v, want %v", err, tc.wantErr)
			}
			if got := StatusOf(err); got != tc.status {
				t.Errorf("StatusOf(%v) = %d, want %d", err, got, tc.status)
			}
			if tc.body != "" && string(resp.Body) != tc.body {
				t.Errorf("body = %q, want %q", resp.Body, tc.body)
			}
			if err != nil {
				var ie *InvokeError
				if !errors.As(err, &ie) || ie.Function == "" {
					t.Errorf("error %v is not an *InvokeError naming the function", err)
				}
			}
			if st := f.Stats(); err != nil && !errors.Is(err, ErrBodyTooLarge) && st.Idle != 0 {
				t.Errorf("after %v: %d idle instances, want the failed one discarded", err, st.Idle)
			}
		})
	}
}

// TestDeadlineDoesNotStallGC runs core-count guests that spin and collects
// garbage meanwhile: the collection must finish while they still spin. A
// guest that could not be preempted would hold the stop-the-world phase until
// its deadline (a minute here). Then cancelling the callers must stop the
// guests: an abandoned request does not keep burning a core.
func TestDeadlineDoesNotStallGC(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	f := load(t, rt, "testdata/loop.wasm", FunctionOptions{Policy: limits.Policy{Timeout: time.Minute}})
	n := runtime.GOMAXPROCS(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan error, n)
	for range n {
		go func() {
			var resp Response
			results <- f.Handle(ctx, newRequest("GET", "/", ""), &resp, nil)
		}()
	}
	// Wait until the guests hold every slot they may: all of them with one
	// slot, else all but one (fair.go keeps one for short invocations).
	for n > 1 && !(rt.long.InUse() == n-1 && rt.long.Waiting() == 1) || n == 1 && rt.conc.InUse() < 1 {
		runtime.Gosched()
	}
	runtime.GC()
	select {
	case err := <-results:
		t.Fatalf("a guest finished (%v) before the GC returned: GC was stalled by spinning guests", err)
	default:
	}
	cancel()
	for range n {
		if err := <-results; !errors.Is(err, ErrCanceled) {
			t.Errorf("Handle = %v, want ErrCanceled", err)
		}
	}
}

func TestEgress(t *testing.T) {
	var hits sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.Path, true)
		if r.URL.Path == "/redirect" {
			// Allowed by the "*.test" pattern, but it resolves to the
			// cloud metadata address: the guard must refuse it.
			http.Redirect(w, r, "http://metadata.test/latest/meta-data/", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	rt := newRuntime(t, RuntimeOptions{Resolver: staticResolver{"upstream.test": "127.0.0.1", "metadata.test": "169.254.169.254"}})
	allow := func(ps ...string) limits.Egress {
		var e limits.Egress
		for _, s := range ps {
			p, err := limits.ParsePattern(s)
			if err != nil {
				t.Fatalf("ParsePattern(%q): %v", s, err)
			}
			e.Allow = append(e.Allow, p)
		}
		return e
	}
	tests := []struct {
		name   string
		guest  string
		egress limits.Egress
		config string
		want   string
		denied uint64
	}{
		{"deny by default", "testdata/fetch_denied.wasm", limits.Egress{}, "", "-1", 1},
		{"metadata address", "testdata/fetch_metadata.wasm", allow("http://*.internal"), "", "-1", 1},
		{"loopback named explicitly", "testdata/fetch_loopback.wasm", allow("http://127.0.0.1:" + port), srv.URL + "/ok", "1", 0},
		{"hostname resolving to loopback", "testdata/fetch_loopback.wasm", allow("http://upstream.test:" + port), "http://upstream.test:" + port + "/private", "-1", 1},
		{"redirect to a private address", "testdata/fetch_loopback.wasm", allow("http://127.0.0.1:"+port, "http://*.test"), srv.URL + "/redirect", "-1", 1},
		{"budget of zero subrequests", "testdata/fetch_loopback.wasm", func() limits.Egress { e := allow("http://127.0.0.1:" + port); e.MaxSubrequests = -1; return e }(), srv.URL + "/ok", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.egress.MaxSubrequests < 0 {
				t.Skip("limits has no spelling for a zero budget with a non-empty allow-list")
			}
			f := load(t, rt, tc.guest, FunctionOptions{Policy: limits.Policy{Egress: tc.egress}, Config: []byte(tc.config)})
			var resp Response
			if err := f.Handle(context.Background(), newRequest("GET", "/", ""), &resp, nil); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if string(resp.Body) != tc.want {
				t.Errorf("fetch code = %q, want %q", resp.Body, tc.want)
			}
			if got := f.Stats().EgressDenied; got != tc.denied {
				t.Errorf("Stats().EgressDenied = %d, want %d", got, tc.denied)
			}
		})
	}
	if _, ok := hits.Load("/private"); ok {
		t.Error("the server was reached through a hostname that resolves to loopback")
	}
}

type staticResolver map[string]string

func (s staticResolver) LookupNetIP(ctx context.Context, network, host string) ([]netipAddr, error) {
	return lookupStatic(s, host)
}

func TestSecrets(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	tests := []struct {
		name    string
		secrets map[string][]byte
		config  string
		body    string
		header  string
	}{
		{"granted", map[string][]byte{"api_token": []byte("s3cr3t")}, "api_token", "6", "s3cr3t"},
		{"not granted", map[string][]byte{"other": []byte("x")}, "api_token", "-1", ""},
		{"none at all", nil, "api_token", "-1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := load(t, rt, "testdata/secret.wasm", FunctionOptions{Secrets: tc.secrets, Config: []byte(tc.config), Env: map[string]string{"VISIBLE": "1"}})
			var resp Response
			if err := f.Handle(context.Background(), newRequest("GET", "/", ""), &resp, nil); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if string(resp.Body) != tc.body || resp.Header.GetString("x-secret") != tc.header {
				t.Errorf("secret_get = %q (x-secret %q), want %q (%q)", resp.Body, resp.Header.GetString("x-secret"), tc.body, tc.header)
			}
		})
	}
}

func TestPool(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	t.Run("min instances are warm after load", func(t *testing.T) {
		f := load(t, rt, cGuest, FunctionOptions{MinInstances: 3, MaxInstances: 4})
		if st := f.Stats(); st.Instances != 3 || st.Idle != 3 {
			t.Fatalf("Stats() = %+v, want 3 idle instances", st)
		}
		var resp Response
		if err := f.Handle(context.Background(), newRequest("GET", "/fast", ""), &resp, nil); err != nil {
			t.Fatal(err)
		}
		if st := f.Stats(); st.WarmStarts != 1 || st.ColdStarts != 0 {
			t.Errorf("Stats() = %+v, want one warm start", st)
		}
	})
	t.Run("fresh instances are never reused", func(t *testing.T) {
		f := load(t, rt, cGuest, FunctionOptions{Fresh: true})
		var resp Response
		for range 3 {
			if err := f.Handle(context.Background(), newRequest("GET", "/fast", ""), &resp, nil); err != nil {
				t.Fatal(err)
			}
		}
		if st := f.Stats(); st.ColdStarts != 3 || st.Instances != 0 {
			t.Errorf("Stats() = %+v, want 3 cold starts and no live instance", st)
		}
	})
	t.Run("a full pool answers ErrPoolExhausted after MaxWait", func(t *testing.T) {
		f := load(t, rt, "testdata/loop.wasm", FunctionOptions{MaxInstances: 1, MaxWait: 20 * time.Millisecond, Policy: limits.Policy{Timeout: time.Second}})
		done := make(chan error, 1)
		go func() {
			var resp Response
			done <- f.Handle(context.Background(), newRequest("GET", "/", ""), &resp, nil)
		}()
		for f.Stats().InUse < 1 {
			runtime.Gosched()
		}
		var resp Response
		err := f.Handle(context.Background(), newRequest("GET", "/", ""), &resp, nil)
		if !errors.Is(err, ErrPoolExhausted) || StatusOf(err) != 503 {
			t.Errorf("Handle with a full pool = %v (%d), want ErrPoolExhausted (503)", err, StatusOf(err))
		}
		if err := <-done; !errors.Is(err, ErrDeadline) {
			t.Errorf("first Handle = %v, want ErrDeadline", err)
		}
		if st := f.Stats(); st.PoolExhausted != 1 || st.Deadlines != 1 || st.Instances != 0 {
			t.Errorf("Stats() = %+v", st)
		}
	})
	t.Run("a waiter gets the instance released before MaxWait", func(t *testing.T) {
		f := load(t, rt, cGuest, FunctionOptions{MaxInstances: 1, MaxQueue: 8, MaxWait: 5 * time.Second})
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var resp Response
				errs <- f.Handle(context.Background(), newRequest("POST", "/fast/echo", "x"), &resp, nil)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Handle = %v", err)
			}
		}
		if st := f.Stats(); st.Instances != 1 || st.ColdStarts != 1 {
			t.Errorf("Stats() = %+v, want one instance shared by all", st)
		}
	})
	t.Run("idle instances above min are torn down", func(t *testing.T) {
		// The reaper runs on its own ticker: in a bubble its ticks are fake
		// time, so the test waits for them without sleeping on the wall clock.
		synctest.Test(t, func(t *testing.T) {
			rt := newRuntime(t, RuntimeOptions{})
			const idle = 20 * time.Millisecond
			f := load(t, rt, cGuest, FunctionOptions{MinInstances: 1, MaxInstances: 4, IdleTimeout: idle})
			// Four instances in use at once, then all idle: the pool grows
			// to MaxInstances whatever the scheduler does.
			var held []*instance
			for range 4 {
				inst, err := f.acquire(context.Background(), &Invocation{})
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, inst)
			}
			for _, inst := range held {
				f.release(inst, true)
			}
			if st := f.Stats(); st.Instances != 4 {
				t.Fatalf("Stats().Instances = %d before the idle timeout, want 4", st.Instances)
			}
			// Past the idle timeout by more than a reaper period (at most
			// IdleTimeout/2 or 10ms), then until the reaper is idle again.
			time.Sleep(2 * idle)
			synctest.Wait()
			if st := f.Stats(); st.Instances != 1 {
				t.Errorf("Stats().Instances = %d, want MinInstances (1)", st.Instances)
			}
		})
	})
	t.Run("closed function", func(t *testing.T) {
		f := load(t, rt, cGuest, FunctionOptions{})
		_ = f.Close(context.Background())
		var resp Response
		if err := f.Handle(context.Background(), newRequest("GET", "/fast", ""), &resp, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Handle after Close = %v, want ErrClosed", err)
		}
		if err := f.Close(context.Background()); err != nil {
			t.Errorf("second Close = %v", err)
		}
	})
}

func TestLoadErrors(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	bin, err := os.ReadFile(cGuest)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  Source
		opts FunctionOptions
	}{
		{"not wasm", Source{Bytes: []byte("not wasm")}, FunctionOptions{}},
		{"missing file", Source{Path: "testdata/nope.wasm"}, FunctionOptions{}},
		{"sha256 mismatch", Source{Bytes: bin, SHA256: strings.Repeat("0", 64)}, FunctionOptions{}},
		{"bad sha256", Source{Bytes: bin, SHA256: "xyz"}, FunctionOptions{}},
		{"url without sha256", Source{URL: "https://example.com/x.wasm"}, FunctionOptions{}},
		{"http url", Source{URL: "http://example.com/x.wasm", SHA256: strings.Repeat("0", 64)}, FunctionOptions{}},
		{"two sources", Source{Path: cGuest, Bytes: bin}, FunctionOptions{}},
		{"memory over the cap", Source{Path: tdBody}, FunctionOptions{Policy: limits.Policy{Memory: 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := rt.Load(context.Background(), tc.src, tc.opts)
			if err == nil {
				_ = f.Close(context.Background())
				t.Fatalf("Load(%v) succeeded, want an error", tc.src)
			}
		})
	}
}

func TestLoadByURLPinned(t *testing.T) {
	bin, err := os.ReadFile(cGuest)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256Hex(bin)
	fetches := 0
	get := func(_ context.Context, url string) ([]byte, error) {
		fetches++
		return bin, nil
	}
	dir := t.TempDir()
	for i := range 2 {
		rt := newRuntime(t, RuntimeOptions{CacheDir: dir, HTTPGet: get})
		f, err := rt.Load(context.Background(), Source{URL: "https://modules.test/hello-c.wasm", SHA256: sum}, FunctionOptions{})
		if err != nil {
			t.Fatalf("Load by URL (round %d): %v", i, err)
		}
		_ = f.Close(context.Background())
	}
	if fetches != 1 {
		t.Errorf("module fetched %d times, want 1 (the second load reads the cache)", fetches)
	}
}

func TestHTTPHandler(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	c := load(t, rt, cGuest, FunctionOptions{})
	mw := load(t, rt, tdNext, FunctionOptions{})
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Method", r.Method)
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
	})
	mux := http.NewServeMux()
	mux.Handle("/fast", c)
	mux.Handle("/mw/", mw.Handler(backend))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		path, want string
		status     int
	}{
		{"/fast", "Hello from C\n", 200},
		{"/mw/x", "wrapped:PUT /rewritten?by=next", 203},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b := new(strings.Builder)
			_, _ = io.Copy(b, resp.Body)
			if resp.StatusCode != tc.status || b.String() != tc.want {
				t.Errorf("GET %s = %d %q, want %d %q", tc.path, resp.StatusCode, b.String(), tc.status, tc.want)
			}
		})
	}
}

// TestGoGuestFetch drives the Go SDK's Transport end to end: the fetch
// example guest fetches from an allowed loopback server, and is refused a
// destination outside its allow-list.
func TestGoGuestFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("from the origin"))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, err := limits.ParsePattern("http://127.0.0.1:" + port)
	if err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t, RuntimeOptions{})
	f := load(t, rt, "../examples/guests/fetch/fetch.wasm", FunctionOptions{Policy: limits.Policy{Egress: limits.Egress{Allow: []limits.Pattern{p}}}})
	tests := []struct {
		name, url string
		status    int
		body      string
	}{
		{"allowed", srv.URL + "/x", 200, `"body":"from the origin"`},
		{"not allow-listed", "http://127.0.0.2:" + port + "/x", 502, `"error":"egress_denied"`},
		{"metadata address", "http://169.254.169.254/latest/meta-data/", 502, `"error":"egress_denied"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var resp Response
			if err := f.Handle(context.Background(), newRequest("GET", "/fetch?url="+tc.url, ""), &resp, nil); err != nil {
				t.Fatal(err)
			}
			if resp.Status != tc.status || !strings.Contains(string(resp.Body), tc.body) {
				t.Errorf("GET /fetch?url=%s = %d %s, want %d containing %s", tc.url, resp.Status, resp.Body, tc.status, tc.body)
			}
		})
	}
	if st := f.Stats(); st.EgressDenied != 2 {
		t.Errorf("Stats().EgressDenied = %d, want 2", st.EgressDenied)
	}
}
