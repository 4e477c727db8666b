package proxy

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

func TestMonolithThroughProxy(t *testing.T) {
	u := newUpstream(t, upstreamtest.StartMonolith(t), Options{})
	front := startFront(t, u, 0).Addr().String()
	rc := upstreamtest.Dial(t, front)
	get := func(t *testing.T, raw string) *fasthttp.Response {
		t.Helper()
		return rc.Do(t, raw)
	}

	t.Run("hello", func(t *testing.T) {
		resp := get(t, "GET /hello HTTP/1.1\r\nHost: app\r\n\r\n")
		if resp.StatusCode() != 200 || string(resp.Body()) != "Hello from the monolith\n" {
			t.Errorf("GET /hello = %d %q", resp.StatusCode(), resp.Body())
		}
	})
	t.Run("users vary per call", func(t *testing.T) {
		var a, b struct {
			Users       []map[string]any `json:"users"`
			RequestID   string           `json:"request_id"`
			GeneratedAt string           `json:"generated_at"`
		}
		for _, v := range []any{&a, &b} {
			resp := get(t, "GET /api/users HTTP/1.1\r\nHost: app\r\n\r\n")
			if err := json.Unmarshal(resp.Body(), v); err != nil {
				t.Fatalf("GET /api/users: %v in %q", err, resp.Body())
			}
		}
		if len(a.Users) != 3 || a.RequestID == "" || a.RequestID == b.RequestID || a.GeneratedAt == "" {
			t.Errorf("GET /api/users twice = %+v, %+v; want 3 users and distinct request ids", a, b)
		}
	})
	t.Run("user by id", func(t *testing.T) {
		for path, want := range map[string]int{"/api/users/2": 200, "/api/users/9": 404, "/api/users/x": 404} {
			if got := get(t, "GET "+path+" HTTP/1.1\r\nHost: app\r\n\r\n").StatusCode(); got != want {
				t.Errorf("GET %s = %d, want %d", path, got, want)
			}
		}
	})
	t.Run("orders", func(t *testing.T) {
		for _, tc := range []struct {
			body string
			want int
		}{
			{`{"item":"widget","qty":2}`, 201},
			{`{"item":"widget","qty":0}`, 400},
			{`{"item":"","qty":1}`, 400},
			{`{"qty":1}`, 400},
			{`not json`, 400},
		} {
			resp := get(t, "POST /api/orders HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\nContent-Length: "+
				itoa(len(tc.body))+"\r\n\r\n"+tc.body)
			if resp.StatusCode() != tc.want {
				t.Errorf("POST /api/orders %s = %d %q, want %d", tc.body, resp.StatusCode(), resp.Body(), tc.want)
			}
		}
	})
	t.Run("raw path reaches the monolith", func(t *testing.T) {
		resp := get(t, "GET /debug/../debug/headers?a=%2F HTTP/1.1\r\nHost: app\r\nX-Multi: 1\r\nX-Multi: 2\r\nTE: trailers\r\n\r\n")
		var got struct {
			RequestURI string              `json:"request_uri"`
			Headers    map[string][]string `json:"headers"`
		}
		if err := json.Unmarshal(resp.Body(), &got); err != nil {
			t.Fatalf("%v in %q", err, resp.Body())
		}
		if got.RequestURI != "/debug/../debug/headers?a=%2F" {
			t.Errorf("monolith saw %q, want %q", got.RequestURI, "/debug/../debug/headers?a=%2F")
		}
		if h := http.Header(got.Headers); strings.Join(h.Values("X-Multi"), ",") != "1,2" || h.Get("Te") != "" ||
			h.Get("X-Forwarded-For") != "127.0.0.1" {
			t.Errorf("monolith saw headers %v", got.Headers)
		}
	})
	t.Run("account middleware header", func(t *testing.T) {
		resp := get(t, "GET /account HTTP/1.1\r\nHost: app\r\nX-User: ada\r\n\r\n")
		if resp.StatusCode() != 200 || !strings.Contains(string(resp.Body()), `"user":"ada"`) {
			t.Errorf("GET /account = %d %q", resp.StatusCode(), resp.Body())
		}
	})
	t.Run("big streamed", func(t *testing.T) {
		resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Get("http://" + front + "/big?mb=16")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		chk := &patternChecker{}
		if _, err := bufio.NewReader(resp.Body).WriteTo(chk); err != nil || chk.off != 16<<20 || chk.bad {
			t.Errorf("GET /big?mb=16: %d bytes, mismatch %v, err %v", chk.off, chk.bad, err)
		}
	})
	t.Run("slow within timeout", func(t *testing.T) {
		if got := get(t, "GET /slow?ms=20 HTTP/1.1\r\nHost: app\r\n\r\n").StatusCode(); got != 200 {
			t.Errorf("GET /slow?ms=20 = %d, want 200", got)
		}
	})
}

func itoa(n int) string { return string(fasthttp.AppendUint(nil, n)) }
