package router

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
)

// TestConformanceDaemon runs the http-wasm conformance guest
// (isolate/testdata/conformance.wat) on the daemon path: a real edge on
// loopback, an isolate route whose "next" goes to a real upstream. The
// expectations are those of the library adapter's test
// (isolate/conformance_test.go): both paths must give a guest the same
// conversation.
func TestConformanceDaemon(t *testing.T) {
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Up", "u")
		w.Header().Set("X-Up-Drop", "d")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, "upstream saw %s %s in=%v set=%q drop=%q body=%q",
			r.Method, r.URL.RequestURI(), r.Header.Values("X-Conf-In"), r.Header.Get("X-Conf-Set"), r.Header.Get("X-Conf-Drop"), b)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = up.Serve(ln) }()
	t.Cleanup(func() { _ = up.Close() })

	conf := loadFunction(t, guestConformance, isolate.FunctionOptions{Config: []byte("mode=conformance")})
	e := startEdge(t, []strangler.Route{
		{Name: "conf", Path: "/conf", Function: "conformance", Upstream: "up", Stage: strangler.StageIsolate},
	}, &World{
		Upstreams: map[string]*proxy.Upstream{"up": upstreamFor(t, ln.Addr().String())},
		Functions: map[string]*isolate.Function{"conformance": conf},
	})
	do := func(t *testing.T, trap string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("POST", "http://"+e.addr+"/conf?q=1", strings.NewReader("client body"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Add("X-Conf-In", "a")
		req.Header.Add("X-Conf-In", "b")
		req.Header.Set("X-Conf-Drop", "gone")
		if trap != "" {
			req.Header.Set("X-Conf-Trap", trap)
		}
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}

	want := map[string][]string{
		"x-start": {"mode=conformance"}, "x-features-none": {"0"}, "x-features": {"3"},
		"x-method": {"POST"}, "x-uri": {"/conf?q=1"}, "x-protocol": {"HTTP/1.1"},
		"x-config": {"mode=conformance"}, "x-log-enabled": {"0"}, "x-names-lower": {"1"},
		"x-in": {"a,b"}, "x-req-trailers": {"0"}, "x-status-before": {"200"}, "x-status-after": {"299"},
		"x-req-body": {"client body"},
		// Set in handle_request before next: they survive the upstream's answer.
		"x-early": {"1", "2"}, "x-early-gone": nil,
		"x-resp-features": {"3"}, "x-upstream-status": {"202"}, "x-resp-method": {"PATCH"},
		"x-resp-uri": {"/conformed?x=1"}, "x-resp-protocol": {"HTTP/1.1"}, "x-resp-config": {"mode=conformance"},
		"x-resp-log-enabled": {"0"}, "x-resp-names-lower": {"1"}, "x-resp-req-set": {"1"},
		"x-resp-up": {"u"}, "x-resp-trailers": {"0"}, "x-resp-set": {"1", "2"}, "x-up-drop": nil, "x-up": {"u"},
	}
	const wantBody = `resp:early;upstream saw PATCH /conformed?x=1 in=[a b added] set="1" drop="" body="new request body"`
	for i := range 2 { // the second request runs on a warm instance
		t.Run(fmt.Sprint("request ", i), func(t *testing.T) {
			resp, body := do(t, "")
			if resp.StatusCode != 203 || body != wantBody {
				t.Errorf("response = %d %q, want 203 %q", resp.StatusCode, body, wantBody)
			}
			for name, w := range want {
				if got := resp.Header.Values(name); !slices.Equal(got, w) {
					t.Errorf("header %s = %q, want %q", name, got, w)
				}
			}
			for _, name := range []string{"X-Source", "X-Resp-Source"} {
				if got := resp.Header.Get(name); !strings.HasPrefix(got, "127.0.0.1:") {
					t.Errorf("header %s = %q, want 127.0.0.1:port", name, got)
				}
			}
		})
	}
	for _, tc := range []struct{ name, trap string }{
		{"set request trailer", "T"},
		{"set response trailer", "R"},
		{"set method after next", "M"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := do(t, tc.trap); resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status = %d %q, want 502", resp.StatusCode, body)
			}
		})
	}
}
