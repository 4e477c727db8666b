package isolate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// The http-wasm conformance guest (testdata/conformance.wat) run through the
// library adapter (Function.Handler) on a real loopback server. The router's
// conformance test runs the same guest on the daemon path against the same
// expectations (router/conformance_test.go).

const tdConformance = "testdata/conformance.wasm"

// conformanceUpstream is the next handler: it reports what it received in its
// body and answers 202 with headers of its own.
func conformanceUpstream(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Up", "u")
	w.Header().Set("X-Up-Drop", "d")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "upstream saw %s %s in=%v set=%q drop=%q body=%q",
		r.Method, r.URL.RequestURI(), r.Header.Values("X-Conf-In"), r.Header.Get("X-Conf-Set"), r.Header.Get("X-Conf-Drop"), b)
}

// conformanceRequest sends the request the expectations below are written for.
func conformanceRequest(t *testing.T, url string, trap string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/conf?q=1", strings.NewReader("client body"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Add("X-Conf-In", "a")
	req.Header.Add("X-Conf-In", "b")
	req.Header.Set("X-Conf-Drop", "gone")
	if trap != "" {
		req.Header.Set("X-Conf-Trap", trap)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// conformanceWant is what the client must get back: every header names one
// observation of the guest (see the comment of conformance.wat).
var conformanceWant = map[string][]string{
	"x-start":            {"mode=conformance"},
	"x-features-none":    {"0"},
	"x-features":         {"3"},
	"x-method":           {"POST"},
	"x-uri":              {"/conf?q=1"},
	"x-protocol":         {"HTTP/1.1"},
	"x-config":           {"mode=conformance"},
	"x-log-enabled":      {"0"},
	"x-names-lower":      {"1"},
	"x-in":               {"a,b"},
	"x-req-trailers":     {"0"},
	"x-status-before":    {"200"},
	"x-status-after":     {"299"},
	"x-req-body":         {"client body"},
	"x-early":            {"1", "2"},
	"x-early-gone":       nil,
	"x-resp-features":    {"3"},
	"x-upstream-status":  {"202"},
	"x-resp-method":      {"PATCH"},
	"x-resp-uri":         {"/conformed?x=1"},
	"x-resp-protocol":    {"HTTP/1.1"},
	"x-resp-config":      {"mode=conformance"},
	"x-resp-log-enabled": {"0"},
	"x-resp-names-lower": {"1"},
	"x-resp-req-set":     {"1"},
	"x-resp-up":          {"u"},
	"x-resp-trailers":    {"0"},
	"x-resp-set":         {"1", "2"},
	"x-up-drop":          nil,
	"x-up":               {"u"},
}

const conformanceBody = `resp:early;upstream saw PATCH /conformed?x=1 in=[a b added] set="1" drop="" body="new request body"`

func checkConformance(t *testing.T, resp *http.Response) {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 203 || string(body) != conformanceBody {
		t.Errorf("response = %d %q, want 203 %q", resp.StatusCode, body, conformanceBody)
	}
	for name, want := range conformanceWant {
		if got := resp.Header.Values(name); !slices.Equal(got, want) {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"X-Source", "X-Resp-Source"} {
		if got := resp.Header.Get(name); !strings.HasPrefix(got, "127.0.0.1:") {
			t.Errorf("header %s = %q, want 127.0.0.1:port", name, got)
		}
	}
}

func TestConformanceLibrary(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	for _, tc := range []struct {
		name string
		opts FunctionOptions
	}{
		{"snapshot", FunctionOptions{}},
		{"no snapshot", FunctionOptions{DisableSnapshot: true}},
		{"fresh", FunctionOptions{Fresh: true}},
		{"warm", FunctionOptions{MinInstances: 1, MaxInstances: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Config = []byte("mode=conformance")
			f := load(t, rt, tdConformance, tc.opts)
			srv := httptest.NewServer(f.Handler(http.HandlerFunc(conformanceUpstream)))
			t.Cleanup(srv.Close)
			// Twice: the second request reuses the instance (except fresh),
			// and features enabled by the first must not leak into it.
			for i := range 2 {
				t.Run(fmt.Sprint("request ", i), func(t *testing.T) {
					checkConformance(t, conformanceRequest(t, srv.URL, ""))
				})
			}
		})
	}
}

// TestConformanceForbidden: calls the spec forbids trap, and the instance
// that made them is discarded.
func TestConformanceForbidden(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	f := load(t, rt, tdConformance, FunctionOptions{Config: []byte("mode=conformance")})
	srv := httptest.NewServer(f.Handler(http.HandlerFunc(conformanceUpstream)))
	t.Cleanup(srv.Close)
	for _, tc := range []struct{ name, trap string }{
		{"set request trailer", "T"},
		{"set response trailer", "R"},
		{"set method after next", "M"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.Stats().Traps
			if resp := conformanceRequest(t, srv.URL, tc.trap); resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status = %d, want 502", resp.StatusCode)
			}
			if got := f.Stats().Traps; got != before+1 {
				t.Errorf("traps = %d, want %d", got, before+1)
			}
		})
	}
	checkConformance(t, conformanceRequest(t, srv.URL, ""))
}

// TestCommandProcExit: a command's proc_exit(0) at the end of _start is a
// normal end of start-up; during a request, proc_exit fails the invocation.
func TestCommandProcExit(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	for _, tc := range []struct {
		name string
		opts FunctionOptions
	}{
		{"snapshot", FunctionOptions{}},
		{"no snapshot", FunctionOptions{DisableSnapshot: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := load(t, rt, tdConformance, tc.opts)
			var resp Response
			req := newRequest("GET", "/", "")
			next := func(_ context.Context, _ *Request, resp *Response) error { resp.Status = 200; return nil }
			for range 2 {
				if err := f.Handle(context.Background(), req, &resp, next); err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if got := resp.Header.GetString("x-start"); got != "" || headerValues(&resp.Header, "x-start") == nil {
					t.Errorf("x-start = %q (%v), want present and empty (no config)", got, headerValues(&resp.Header, "x-start"))
				}
			}
		})
	}
}

// TestStartSection: a start section may call host functions; it runs with
// the data segments laid out, and the features it enables hold for every
// request.
func TestStartSection(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	for _, tc := range []struct {
		name string
		opts FunctionOptions
	}{
		{"pooled", FunctionOptions{}},
		{"fresh", FunctionOptions{Fresh: true}},
		{"min instances", FunctionOptions{MinInstances: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Config = []byte("cfg=start")
			f := load(t, rt, "testdata/startsec.wasm", tc.opts)
			for range 2 {
				var resp Response
				if err := f.Handle(context.Background(), newRequest("GET", "/", ""), &resp, nil); err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if resp.Status != 200 || string(resp.Body) != "start ok\n" {
					t.Errorf("Handle = %d %q, want 200 %q", resp.Status, resp.Body, "start ok\n")
				}
				for name, want := range map[string]string{
					"x-start-config": "cfg=start", "x-start-data": "seen in start",
					"x-start-features": "1", "x-features": "1",
				} {
					if got := resp.Header.GetString(name); got != want {
						t.Errorf("%s = %q, want %q", name, got, want)
					}
				}
			}
		})
	}
}

// TestStartSectionLoadError: a start section that traps fails the load with
// the guest's error (before, a host call from it crashed on a nil memory).
func TestStartSectionLoadError(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	// A config over 1 KiB makes the start function trap: Load must fail with
	// the guest's error, not crash.
	_, err := rt.Load(context.Background(), Source{Path: "testdata/startsec.wasm"},
		FunctionOptions{Name: "startsec", MinInstances: 1, Config: []byte(strings.Repeat("c", 2048))})
	var ie *InvokeError
	if !errors.As(err, &ie) || !errors.Is(err, ErrTrap) {
		t.Fatalf("Load = %v, want an InvokeError of kind ErrTrap", err)
	}
}

// TestStartSectionProcExit: proc_exit from a start section fails the load with
// the exit in the error, code 0 included: there is no module to keep, since
// the call ends instantiation (the reference host fails it too).
func TestStartSectionProcExit(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	for _, code := range []string{"0", "3"} {
		t.Run("code "+code, func(t *testing.T) {
			_, err := rt.Load(context.Background(), Source{Path: "testdata/startexit.wasm"},
				FunctionOptions{Name: "startexit", MinInstances: 1, Config: []byte(code)})
			if err == nil || !strings.Contains(err.Error(), "proc_exit("+code+")") {
				t.Fatalf("Load = %v, want an error naming proc_exit(%s)", err, code)
			}
			t.Log(err)
		})
	}
}
