package isolate

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edged/edged/limits"
)

// TestHostCallsFetch: HostCalls.Fetch answers a guest's fetch without the
// network (replay) or around the egress client (recording), and its errors
// reach the guest as the egress client's do.
func TestHostCallsFetch(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		io.WriteString(w, "live")
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	rt := newRuntime(t, RuntimeOptions{})
	allowed := limits.Policy{Egress: limits.Egress{Allow: []limits.Pattern{mustPattern(t, "http://127.0.0.1:"+port)}}}
	canned := func(context.Context, *http.Request, FetchFunc) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("canned"))}, nil
	}
	tests := []struct {
		name     string
		policy   limits.Policy
		fetch    func(context.Context, *http.Request, FetchFunc) (*http.Response, error)
		body     string
		wantHits int32
	}{
		{"answered from a recording, egress denied by policy", limits.Policy{}, canned, "1", 0},
		{"recorded around the egress client", allowed, func(ctx context.Context, r *http.Request, next FetchFunc) (*http.Response, error) {
			return next(ctx, r)
		}, "1", 1},
		{"a replayer's denial", allowed, func(context.Context, *http.Request, FetchFunc) (*http.Response, error) {
			return nil, limits.ErrEgressDenied
		}, "-1", 0},
		{"no response and no error", allowed, func(context.Context, *http.Request, FetchFunc) (*http.Response, error) {
			return nil, nil
		}, "-5", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			f := load(t, rt, "testdata/fetch_loopback.wasm", FunctionOptions{Policy: tc.policy, Config: []byte(srv.URL + "/")})
			var urls []string
			ctx := WithHostCalls(context.Background(), &HostCalls{Fetch: func(ctx context.Context, r *http.Request, next FetchFunc) (*http.Response, error) {
				urls = append(urls, r.URL.String())
				return tc.fetch(ctx, r, next)
			}})
			var resp Response
			if err := f.Handle(ctx, newRequest("GET", "/", ""), &resp, nil); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if string(resp.Body) != tc.body || hits.Load() != tc.wantHits {
				t.Errorf("fetch = %q with %d live requests, want %q with %d", resp.Body, hits.Load(), tc.body, tc.wantHits)
			}
			if len(urls) != 1 || urls[0] != srv.URL+"/" {
				t.Errorf("HostCalls.Fetch saw %q, want [%s/]", urls, srv.URL)
			}
		})
	}
}

// TestHostCallsSecret: HostCalls.Secret sees the name asked for and whether it
// was granted, never the value, and the guest still gets the value.
func TestHostCallsSecret(t *testing.T) {
	rt := newRuntime(t, RuntimeOptions{})
	for _, tc := range []struct {
		name    string
		secrets map[string][]byte
		granted bool
	}{
		{"granted", map[string][]byte{"api_token": []byte("s3cr3t")}, true},
		{"not granted", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := load(t, rt, "testdata/secret.wasm", FunctionOptions{Secrets: tc.secrets, Config: []byte("api_token")})
			type call struct {
				name    string
				granted bool
			}
			var calls []call
			ctx := WithHostCalls(context.Background(), &HostCalls{Secret: func(name string, granted bool) {
				calls = append(calls, call{name, granted})
			}})
			var resp Response
			if err := f.Handle(ctx, newRequest("GET", "/", ""), &resp, nil); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			// secret.wat asks twice: once for the length, once for the value.
			if len(calls) != 2 || calls[0] != (call{"api_token", tc.granted}) {
				t.Errorf("HostCalls.Secret calls = %v, want 2 × {api_token %v}", calls, tc.granted)
			}
			if tc.granted && resp.Header.GetString("x-secret") != "s3cr3t" {
				t.Errorf("x-secret = %q, want the value", resp.Header.GetString("x-secret"))
			}
		})
	}
}

func mustPattern(t *testing.T, s string) limits.Pattern {
	t.Helper()
	p, err := limits.ParsePattern(s)
	if err != nil {
		t.Fatalf("ParsePattern(%q): %v", s, err)
	}
	return p
}
