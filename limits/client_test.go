package limits

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeResolver maps host names to fixed answers and counts lookups.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	lookups map[string]int
}

func newFakeResolver(m map[string]string) *fakeResolver {
	r := &fakeResolver{answers: map[string][]netip.Addr{}, lookups: map[string]int{}}
	for host, ips := range m {
		r.set(host, ips)
	}
	return r
}

func (r *fakeResolver) set(host, ips string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var as []netip.Addr
	for ip := range strings.SplitSeq(ips, ",") {
		as = append(as, netip.MustParseAddr(ip))
	}
	r.answers[host] = as
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups[host]++
	if as, ok := r.answers[host]; ok {
		return as, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *fakeResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups[host]
}

// testServer is an httptest server on 127.0.0.1 that counts its requests.
type testServer struct {
	*httptest.Server
	hits atomic.Int32
	port string
}

func newTestServer(t *testing.T, h http.HandlerFunc) *testServer {
	t.Helper()
	s := &testServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	if u.Hostname() != "127.0.0.1" {
		t.Fatalf("test server on %s, want 127.0.0.1", u.Host)
	}
	s.port = u.Port()
	return s
}

func hello(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") }

func patterns(t *testing.T, ss ...string) []Pattern {
	t.Helper()
	var ps []Pattern
	for _, s := range ss {
		ps = append(ps, mustPattern(t, s))
	}
	return ps
}

func get(t *testing.T, c *Client, rawURL string, b *Budget) (string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(context.Background(), req, b)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func TestClientAllowsExplicitLoopbackLiteral(t *testing.T) {
	srv := newTestServer(t, hello)
	c := NewClient(Egress{Allow: patterns(t, "http://127.0.0.1:"+srv.port)}, newFakeResolver(nil))
	defer c.Close()
	b := NewBudget(5)
	body, err := get(t, c, srv.URL+"/x", b)
	if err != nil || body != "hello" {
		t.Fatalf("GET %s = %q, %v, want %q", srv.URL, body, err, "hello")
	}
	if b.Used() != 1 {
		t.Errorf("Budget.Used() = %d, want 1", b.Used())
	}
}

func TestClientRefusals(t *testing.T) {
	srv := newTestServer(t, hello)
	p := srv.port
	res := newFakeResolver(map[string]string{
		"api.test":       "127.0.0.1",
		"localhost":      "127.0.0.1",
		"meta.wild.test": "169.254.169.254",
		"mixed.test":     "203.0.113.7,127.0.0.1",
		"mapped.test":    "::ffff:127.0.0.1",
		"private.test":   "10.0.0.5",
		"v6.test":        "::1",
	})
	tests := []struct {
		name  string
		allow []string
		url   string
		want  error
	}{
		{"not in allow-list", []string{"http://127.0.0.1:" + p}, "http://127.0.0.2:" + p, ErrEgressDenied},
		{"deny all by default", nil, srv.URL, ErrEgressDenied},
		{"wrong port", []string{"http://127.0.0.1:1"}, srv.URL, ErrEgressDenied},
		{"name resolving to loopback", []string{"http://api.test:" + p}, "http://api.test:" + p, ErrPrivateAddress},
		{"localhost", []string{"http://localhost:" + p}, "http://localhost:" + p, ErrPrivateAddress},
		{"wildcard to metadata", []string{"http://*.wild.test:" + p}, "http://meta.wild.test:" + p, ErrPrivateAddress},
		{"one private answer poisons all", []string{"http://mixed.test:" + p}, "http://mixed.test:" + p, ErrPrivateAddress},
		{"ipv4-mapped answer", []string{"http://mapped.test:" + p}, "http://mapped.test:" + p, ErrPrivateAddress},
		{"rfc1918 answer", []string{"http://private.test:" + p}, "http://private.test:" + p, ErrPrivateAddress},
		{"ipv6 loopback answer", []string{"http://v6.test:" + p}, "http://v6.test:" + p, ErrPrivateAddress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.hits.Load()
			c := NewClient(Egress{Allow: patterns(t, tc.allow...)}, res)
			defer c.Close()
			b := NewBudget(5)
			_, err := get(t, c, tc.url, b)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrEgressDenied) {
				t.Fatalf("GET %s = %v, want %v", tc.url, err, tc.want)
			}
			if srv.hits.Load() != before {
				t.Errorf("GET %s reached the server", tc.url)
			}
			if wantUsed := map[bool]int{true: 1, false: 0}[errors.Is(err, ErrPrivateAddress)]; b.Used() != wantUsed {
				t.Errorf("Budget.Used() = %d, want %d (the allow-list is checked before the budget)", b.Used(), wantUsed)
			}
		})
	}
}

func TestClientRealResolverLocalhost(t *testing.T) {
	srv := newTestServer(t, hello)
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost")
	if err != nil || len(ips) == 0 {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	c := NewClient(Egress{Allow: patterns(t, "http://localhost:"+srv.port)}, nil)
	defer c.Close()
	if _, err := get(t, c, "http://localhost:"+srv.port, nil); !errors.Is(err, ErrPrivateAddress) {
		t.Fatalf("GET http://localhost = %v, want ErrPrivateAddress", err)
	}
	if srv.hits.Load() != 0 {
		t.Errorf("the server was reached")
	}
}

// TestClientConnectsToCheckedAddress proves there is no second lookup: the
// name is resolved once, in the dialer, and the connection is made to the
// IP literal that passed CheckAddr. The public answer (TEST-NET-3) is
// redirected to the loopback test server by the test's connect hook, so no
// traffic leaves the machine.
func TestClientConnectsToCheckedAddress(t *testing.T) {
	srv := newTestServer(t, hello)
	res := newFakeResolver(map[string]string{"api.test": "203.0.113.7"})
	c := NewClient(Egress{Allow: patterns(t, "http://api.test:"+srv.port)}, res)
	defer c.Close()
	var dialed []string
	var mu sync.Mutex
	c.connect = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	body, err := get(t, c, "http://api.test:"+srv.port+"/", nil)
	if err != nil || body != "hello" {
		t.Fatalf("GET = %q, %v, want hello", body, err)
	}
	if want := "203.0.113.7:" + srv.port; len(dialed) != 1 || dialed[0] != want {
		t.Errorf("dialed %q, want [%q]", dialed, want)
	}
	if n := res.count("api.test"); n != 1 {
		t.Errorf("lookups of api.test = %d, want 1", n)
	}

	// The name now rebinds to loopback: the pooled connection is gone after
	// Close, the next dial resolves again and refuses the new answer.
	c.Close()
	res.set("api.test", "127.0.0.1")
	if _, err := get(t, c, "http://api.test:"+srv.port+"/", nil); !errors.Is(err, ErrPrivateAddress) {
		t.Fatalf("GET after rebinding = %v, want ErrPrivateAddress", err)
	}
}

func TestClientRedirects(t *testing.T) {
	res := newFakeResolver(map[string]string{"api.test": "127.0.0.1", "meta.test": "169.254.169.254"})
	target := newTestServer(t, hello)
	var next string // set per case; read by the handler
	var mu sync.Mutex
	hop := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		loc := next
		mu.Unlock()
		switch r.URL.Path {
		case "/chain/1":
			http.Redirect(w, r, "/chain/2", http.StatusFound)
		case "/chain/2":
			http.Redirect(w, r, "/chain/3", http.StatusFound)
		case "/chain/3":
			io.WriteString(w, "end")
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			http.Redirect(w, r, loc, http.StatusFound)
		}
	})
	allow := patterns(t,
		"http://127.0.0.1:"+hop.port,
		"http://api.test:"+target.port,
		"http://*.test:80",
	)
	tests := []struct {
		name     string
		path     string
		location string
		budget   int
		want     error
		body     string
		used     int
	}{
		{"to a name resolving to loopback", "/", "http://api.test:" + target.port + "/", 5, ErrPrivateAddress, "", 2},
		{"to cloud metadata by name", "/", "http://meta.test/latest/meta-data", 5, ErrPrivateAddress, "", 2},
		{"to metadata literal", "/", "http://169.254.169.254/latest/meta-data", 5, ErrEgressDenied, "", 1},
		{"to an unlisted loopback port", "/", target.URL + "/", 5, ErrEgressDenied, "", 1},
		{"to mapped loopback unlisted", "/", "http://[::ffff:127.0.0.1]:" + target.port + "/", 5, ErrEgressDenied, "", 1},
		{"chain within budget", "/chain/1", "", 3, nil, "end", 3},
		{"chain over budget", "/chain/1", "", 2, ErrSubrequestBudget, "", 2},
		{"loop stops", "/loop", "", 100, nil, "", 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			next = tc.location
			mu.Unlock()
			before := target.hits.Load()
			c := NewClient(Egress{Allow: allow}, res)
			defer c.Close()
			b := NewBudget(tc.budget)
			body, err := get(t, c, hop.URL+tc.path, b)
			switch {
			case tc.name == "loop stops":
				if err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") {
					t.Fatalf("GET %s = %v, want the redirect limit", tc.path, err)
				}
			case tc.want == nil:
				if err != nil || body != tc.body {
					t.Fatalf("GET %s = %q, %v, want %q", tc.path, body, err, tc.body)
				}
			default:
				if !errors.Is(err, tc.want) {
					t.Fatalf("GET %s = %v, want %v", tc.path, err, tc.want)
				}
			}
			if b.Used() != tc.used {
				t.Errorf("Budget.Used() = %d, want %d", b.Used(), tc.used)
			}
			if target.hits.Load() != before {
				t.Errorf("the redirect target was reached")
			}
		})
	}
}

func TestClientSubrequestTimeout(t *testing.T) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	c := NewClient(Egress{Allow: patterns(t, "http://127.0.0.1:"+srv.port), SubrequestTimeout: 50 * time.Millisecond}, nil)
	defer c.Close()

	start := time.Now()
	_, err := get(t, c, srv.URL+"/slow-headers", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GET /slow-headers = %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("GET /slow-headers took %v, want about 50ms", el)
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/slow-body", nil)
	resp, err := c.Do(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("GET /slow-body = %v, want headers", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if !errors.Is(err, context.DeadlineExceeded) || string(body) != "partial" {
		t.Fatalf("reading /slow-body = %q, %v, want %q and context.DeadlineExceeded", body, err, "partial")
	}
}

func TestClientParentContext(t *testing.T) {
	srv := newTestServer(t, hello)
	c := NewClient(Egress{Allow: patterns(t, "http://127.0.0.1:"+srv.port)}, nil)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if _, err := c.Do(ctx, req, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do(canceled ctx) = %v, want context.Canceled", err)
	}
	if req.Context() != context.Background() {
		t.Errorf("Do replaced the context of the caller's request")
	}
}

func TestClientBodyCap(t *testing.T) {
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		w.Write([]byte(strings.Repeat("x", n)))
	})
	c := NewClient(Egress{Allow: patterns(t, "http://127.0.0.1:"+srv.port), MaxSubrequestBody: 64}, nil)
	defer c.Close()
	tests := []struct {
		name string
		n    int
		want int
		err  error
	}{
		{"empty", 0, 0, nil},
		{"under", 10, 10, nil},
		{"exact", 64, 64, nil},
		{"one over", 65, 64, ErrBodyTooLarge},
		{"far over", 100000, 64, ErrBodyTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := get(t, c, fmt.Sprintf("%s/?n=%d", srv.URL, tc.n), nil)
			if len(body) != tc.want || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Errorf("GET n=%d = %d bytes, %v, want %d bytes, %v", tc.n, len(body), err, tc.want, tc.err)
			}
		})
	}
}

func TestClientNilBudgetUsesPolicy(t *testing.T) {
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/a" {
			http.Redirect(w, r, "/b", http.StatusFound)
			return
		}
		io.WriteString(w, "b")
	})
	c := NewClient(Egress{Allow: patterns(t, "http://127.0.0.1:"+srv.port), MaxSubrequests: 1}, nil)
	defer c.Close()
	if _, err := get(t, c, srv.URL+"/a", nil); !errors.Is(err, ErrSubrequestBudget) {
		t.Fatalf("GET /a with MaxSubrequests 1 = %v, want ErrSubrequestBudget", err)
	}
	if body, err := get(t, c, srv.URL+"/b", nil); err != nil || body != "b" {
		t.Fatalf("GET /b = %q, %v, want %q", body, err, "b")
	}
	if c.Egress().MaxSubrequests != 1 || c.Egress().SubrequestTimeout != DefaultSubrequestTimeout {
		t.Errorf("Egress() = %+v, want defaults applied", c.Egress())
	}
}

func TestClientConcurrentInvocations(t *testing.T) {
	srv := newTestServer(t, hello)
	c := NewClient(Egress{Allow: patterns(t, "http://127.0.0.1:"+srv.port)}, nil)
	defer c.Close()
	defer c.Close() // twice is fine
	var wg sync.WaitGroup
	errs := make(chan error, 8*5)
	for range 8 {
		wg.Go(func() {
			b := NewBudget(5) // one invocation
			for range 5 {
				body, err := get(t, c, srv.URL, b)
				if err == nil && body != "hello" {
					err = fmt.Errorf("body %q", body)
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestClientNilRequest(t *testing.T) {
	c := NewClient(Egress{}, nil)
	if _, err := c.Do(context.Background(), nil, nil); err == nil {
		t.Errorf("Do(nil request) = nil error")
	}
}
