package idempotency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// idemClock is a fake clock for TTL tests.
type idemClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *idemClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *idemClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// signalStore reports on inFlight each time Begin answers StateInFlight,
// so a test knows a duplicate is waiting without sleeping.
type signalStore struct {
	Store
	inFlight chan struct{}
}

func (s *signalStore) Begin(ctx context.Context, key []byte, fp [32]byte) (Begin, error) {
	b, err := s.Store.Begin(ctx, key, fp)
	if b.State == StateInFlight {
		s.inFlight <- struct{}{}
	}
	return b, err
}

// idemHarness is a real fasthttp server (in-memory listener) whose handler goes
// through Idempotency.Handle to a counting handler.
type idemHarness struct {
	t      *testing.T
	store  *MemoryStore
	signal *signalStore
	client *fasthttp.Client
	runs   atomic.Int64
	// handler answers the n-th execution (1-based).
	handler func(ctx *fasthttp.RequestCtx, n int64)
}

// chargeHandler is the "charge the customer" endpoint: every run is a new charge.
func chargeHandler(ctx *fasthttp.RequestCtx, n int64) {
	ctx.SetStatusCode(fasthttp.StatusCreated)
	ctx.Response.Header.Set("X-Charge-Id", strconv.FormatInt(n, 10))
	ctx.Response.Header.Set("Set-Cookie", "session=s"+strconv.FormatInt(n, 10))
	ctx.SetContentType("application/json")
	fmt.Fprintf(ctx, `{"charge":%d,"body":%q}`, n, ctx.PostBody())
}

func newIdemHarness(t *testing.T, o Options, handler func(ctx *fasthttp.RequestCtx, n int64)) *idemHarness {
	t.Helper()
	store, err := NewMemoryStore(o)
	if err != nil {
		t.Fatalf("NewMemoryStore: %v", err)
	}
	h := &idemHarness{t: t, store: store, handler: handler}
	h.signal = &signalStore{Store: store, inFlight: make(chan struct{}, 64)}
	idem, err := NewHandler(h.signal, o)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{
		DisableHeaderNamesNormalizing: true, // as in production (serveropts.go)
		Handler: func(ctx *fasthttp.RequestCtx) {
			route := string(ctx.Request.Header.Peek("X-Test-Route"))
			idem.Handle(ctx, []byte("charges\x00"+route), NextFunc(func(ctx *fasthttp.RequestCtx) {
				h.handler(ctx, h.runs.Add(1))
			}))
		},
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	h.client = &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	return h
}

type idemResult struct {
	status int
	body   string
	header map[string]string
}

// do sends method /charges with the given key (none if empty) and body.
// Extra header pairs follow.
func (h *idemHarness) do(method, key, body string, hdr ...string) idemResult {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.DisableNormalizing()
	req.Header.SetMethod(method)
	req.SetRequestURI("http://edge/charges")
	if key != "" {
		req.Header.Set(KeyHeader, key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	req.SetBodyString(body)
	if err := h.client.Do(req, resp); err != nil {
		h.t.Errorf("%s %q: %v", method, key, err)
		return idemResult{}
	}
	r := idemResult{status: resp.StatusCode(), body: string(resp.Body()), header: map[string]string{}}
	for k, v := range resp.Header.All() {
		r.header[strings.ToLower(string(k))] = string(v)
	}
	return r
}

func TestIdempotencyChargeOnce(t *testing.T) {
	h := newIdemHarness(t, Options{}, chargeHandler)
	first := h.do("POST", "order-42", `{"amount":100}`)
	second := h.do("POST", "order-42", `{"amount":100}`)
	if got := h.runs.Load(); got != 1 {
		t.Fatalf("handler runs = %d, want 1 (customer charged twice)", got)
	}
	if first.status != 201 || second.status != 201 {
		t.Fatalf("statuses = %d, %d, want 201, 201", first.status, second.status)
	}
	if first.body != second.body {
		t.Errorf("replayed body = %q, want %q", second.body, first.body)
	}
	if got := first.header["idempotent-replayed"]; got != "" {
		t.Errorf("first response Idempotent-Replayed = %q, want none", got)
	}
	for name, want := range map[string]string{
		"idempotent-replayed": "true",
		"x-charge-id":         "1",
		"content-type":        "application/json",
		"set-cookie":          "", // not stored: see Handle
	} {
		if got := second.header[name]; got != want {
			t.Errorf("replay header %s = %q, want %q", name, got, want)
		}
	}
	if first.header["set-cookie"] == "" {
		t.Errorf("first response lost its Set-Cookie")
	}
}

func TestIdempotencyBypass(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		key      string
		wantRuns int64
	}{
		{"GET with key", "GET", "k1", 2},
		{"DELETE with key", "DELETE", "k1", 2},
		{"POST without key", "POST", "", 2},
		{"PUT with key", "PUT", "k1", 1},
		{"PATCH with key", "PATCH", "k1", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newIdemHarness(t, Options{}, chargeHandler)
			h.do(tc.method, tc.key, "")
			r := h.do(tc.method, tc.key, "")
			if got := h.runs.Load(); got != tc.wantRuns {
				t.Errorf("%s twice: handler runs = %d, want %d", tc.method, got, tc.wantRuns)
			}
			if replayed := r.header["idempotent-replayed"] == "true"; replayed != (tc.wantRuns == 1) {
				t.Errorf("%s twice: replayed = %v, want %v", tc.method, replayed, tc.wantRuns == 1)
			}
		})
	}
}

func TestIdempotencyBadInput(t *testing.T) {
	h := newIdemHarness(t, Options{}, chargeHandler)
	if r := h.do("POST", "k", "amount=1"); r.status != 201 {
		t.Fatalf("first POST = %d, want 201", r.status)
	}
	tests := []struct {
		name       string
		method     string
		key        string
		body       string
		hdr        []string
		wantStatus int
		wantError  string
	}{
		{"different body", "POST", "k", "amount=1000", nil, 422, "idempotency_key_reused"},
		{"different method", "PUT", "k", "amount=1", nil, 422, "idempotency_key_reused"},
		{"key of 256 bytes", "POST", strings.Repeat("k", 256), "", nil, 400, "invalid_idempotency_key"},
		{"key of 3000 bytes", "POST", strings.Repeat("x", 3000), "", nil, 400, "invalid_idempotency_key"},
		{"non-ASCII key", "POST", "clé", "", nil, 400, "invalid_idempotency_key"},
		{"two keys", "POST", "a", "", []string{"idempotency-key", "b"}, 400, "invalid_idempotency_key"},
		{"key of 255 bytes", "POST", strings.Repeat("k", 255), "", nil, 201, ""},
		{"same request replayed", "POST", "k", "amount=1", nil, 201, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(tc.method, tc.key, tc.body, tc.hdr...)
			if r.status != tc.wantStatus {
				t.Fatalf("%s = %d %q, want %d", tc.name, r.status, r.body, tc.wantStatus)
			}
			if tc.wantError != "" {
				if !strings.Contains(r.body, `"error":"`+tc.wantError+`"`) || r.header["content-type"] != "application/json" {
					t.Errorf("%s body = %q (%s), want JSON error %q", tc.name, r.body, r.header["content-type"], tc.wantError)
				}
			}
		})
	}
	if got := h.runs.Load(); got != 2 {
		t.Errorf("handler runs = %d, want 2 (first POST and the 255-byte key)", got)
	}
}

func TestIdempotencyHeaderCase(t *testing.T) {
	h := newIdemHarness(t, Options{}, chargeHandler)
	h.do("POST", "", "x", "idempotency-key", "abc")
	r := h.do("POST", "", "x", "IDEMPOTENCY-KEY", "abc")
	if got := h.runs.Load(); got != 1 || r.header["idempotent-replayed"] != "true" {
		t.Errorf("lower then upper case header: runs = %d, replayed = %q, want 1, true", got, r.header["idempotent-replayed"])
	}
}

func TestIdempotencyNamespacedByRoute(t *testing.T) {
	h := newIdemHarness(t, Options{}, chargeHandler)
	a := h.do("POST", "same", "x", "X-Test-Route", "alice")
	b := h.do("POST", "same", "x", "X-Test-Route", "bob")
	if got := h.runs.Load(); got != 2 {
		t.Fatalf("same key, two clients: runs = %d, want 2", got)
	}
	if a.body == b.body || b.header["idempotent-replayed"] != "" {
		t.Errorf("bob saw alice's response: %q (replayed %q)", b.body, b.header["idempotent-replayed"])
	}
}

// blockingHandler runs charge after the test closes release, telling the test
// on entered when it starts. Runs listed in fail answer status instead.
func blockingHandler(entered chan<- int64, release <-chan struct{}, failStatus map[int64]int) func(*fasthttp.RequestCtx, int64) {
	return func(ctx *fasthttp.RequestCtx, n int64) {
		entered <- n
		<-release
		if code, ok := failStatus[n]; ok {
			ctx.SetStatusCode(code)
			return
		}
		chargeHandler(ctx, n)
	}
}

func TestIdempotencyConcurrentWait(t *testing.T) {
	entered, release := make(chan int64, 4), make(chan struct{})
	h := newIdemHarness(t, Options{}, blockingHandler(entered, release, nil))
	results := make(chan idemResult, 2)
	go func() { results <- h.do("POST", "pay-1", "x") }()
	<-entered
	go func() { results <- h.do("POST", "pay-1", "x") }()
	<-h.signal.inFlight // the duplicate is waiting
	close(release)
	a, b := <-results, <-results
	if got := h.runs.Load(); got != 1 {
		t.Fatalf("concurrent duplicates: runs = %d, want 1", got)
	}
	if a.status != 201 || b.status != 201 || a.body != b.body {
		t.Errorf("answers = %d %q and %d %q, want the same 201", a.status, a.body, b.status, b.body)
	}
	if a.header["idempotent-replayed"] == b.header["idempotent-replayed"] {
		t.Errorf("exactly one answer should be a replay, got %q and %q", a.header["idempotent-replayed"], b.header["idempotent-replayed"])
	}
}

func TestIdempotencyConcurrentConflict(t *testing.T) {
	entered, release := make(chan int64, 4), make(chan struct{})
	h := newIdemHarness(t, Options{OnConcurrent: Conflict}, blockingHandler(entered, release, nil))
	first := make(chan idemResult, 1)
	go func() { first <- h.do("POST", "pay-1", "x") }()
	<-entered
	dup := h.do("POST", "pay-1", "x")
	if dup.status != 409 || !strings.Contains(dup.body, "idempotency_in_progress") {
		t.Errorf("duplicate while running = %d %q, want 409 idempotency_in_progress", dup.status, dup.body)
	}
	// A different body is still 422, even while the first runs.
	if r := h.do("POST", "pay-1", "y"); r.status != 422 {
		t.Errorf("other body while running = %d, want 422", r.status)
	}
	close(release)
	if r := <-first; r.status != 201 {
		t.Errorf("first = %d, want 201", r.status)
	}
	if r := h.do("POST", "pay-1", "x"); r.status != 201 || r.header["idempotent-replayed"] != "true" {
		t.Errorf("after completion = %d replayed %q, want 201 replayed", r.status, r.header["idempotent-replayed"])
	}
	if got := h.runs.Load(); got != 1 {
		t.Errorf("runs = %d, want 1", got)
	}
}

func TestIdempotencyWaitTimeout(t *testing.T) {
	entered, release := make(chan int64, 4), make(chan struct{})
	h := newIdemHarness(t, Options{WaitTimeout: 20 * time.Millisecond}, blockingHandler(entered, release, nil))
	first := make(chan idemResult, 1)
	go func() { first <- h.do("POST", "slow", "x") }()
	<-entered
	if r := h.do("POST", "slow", "x"); r.status != 409 {
		t.Errorf("duplicate past WaitTimeout = %d %q, want 409", r.status, r.body)
	}
	close(release)
	<-first
}

// TestIdempotencyAbortWakesWaiter: the first request fails (5xx), so a waiting
// duplicate is released and runs the request itself.
func TestIdempotencyAbortWakesWaiter(t *testing.T) {
	entered, release := make(chan int64, 4), make(chan struct{})
	h := newIdemHarness(t, Options{}, blockingHandler(entered, release, map[int64]int{1: 503}))
	results := make(chan idemResult, 2)
	go func() { results <- h.do("POST", "retry-me", "x") }()
	<-entered
	go func() { results <- h.do("POST", "retry-me", "x") }()
	<-h.signal.inFlight
	close(release)
	codes := map[int]int{}
	for range 2 {
		codes[(<-results).status]++
	}
	if codes[503] != 1 || codes[201] != 1 {
		t.Errorf("statuses = %v, want one 503 and one 201", codes)
	}
	if got := h.runs.Load(); got != 2 {
		t.Errorf("runs = %d, want 2", got)
	}
}

func TestIdempotencyTransientNotStored(t *testing.T) {
	for _, code := range []int{500, 502, 503, 504, 408, 429} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			h := newIdemHarness(t, Options{}, func(ctx *fasthttp.RequestCtx, n int64) {
				if n == 1 {
					ctx.SetStatusCode(code)
					return
				}
				chargeHandler(ctx, n)
			})
			if r := h.do("POST", "k", "x"); r.status != code {
				t.Fatalf("first = %d, want %d", r.status, code)
			}
			if r := h.do("POST", "k", "x"); r.status != 201 || r.header["idempotent-replayed"] != "" {
				t.Errorf("retry after %d = %d replayed %q, want a fresh 201", code, r.status, r.header["idempotent-replayed"])
			}
			if r := h.do("POST", "k", "x"); r.header["idempotent-replayed"] != "true" {
				t.Errorf("third = %d, want the stored 201 replayed", r.status)
			}
			if got := h.runs.Load(); got != 2 {
				t.Errorf("runs = %d, want 2", got)
			}
		})
	}
}

func TestIdempotencyStoresClientErrors(t *testing.T) {
	h := newIdemHarness(t, Options{}, func(ctx *fasthttp.RequestCtx, _ int64) {
		ctx.SetStatusCode(402)
		ctx.SetBodyString("card declined")
	})
	h.do("POST", "k", "x")
	if r := h.do("POST", "k", "x"); r.status != 402 || r.body != "card declined" || r.header["idempotent-replayed"] != "true" {
		t.Errorf("replayed 402 = %d %q %q", r.status, r.body, r.header["idempotent-replayed"])
	}
}

func TestIdempotencyTTL(t *testing.T) {
	clock := &idemClock{now: time.Unix(1_700_000_000, 0)}
	h := newIdemHarness(t, Options{TTL: time.Hour, Now: clock.Now}, chargeHandler)
	h.do("POST", "k", "x")
	clock.Advance(time.Hour - time.Second)
	if r := h.do("POST", "k", "x"); r.header["idempotent-replayed"] != "true" {
		t.Errorf("just before TTL: not replayed")
	}
	clock.Advance(time.Second)
	if r := h.do("POST", "k", "x"); r.header["idempotent-replayed"] != "" {
		t.Errorf("at TTL: replayed, want a fresh run")
	}
	if got := h.runs.Load(); got != 2 {
		t.Errorf("runs = %d, want 2", got)
	}
	if got := h.store.Len(); got != 1 {
		t.Errorf("store.Len() = %d, want 1 (the expired entry dropped)", got)
	}
}

func TestIdempotencyFloodStaysBounded(t *testing.T) {
	const maxEntries = 8
	h := newIdemHarness(t, Options{MaxEntries: maxEntries}, chargeHandler)
	for i := range 300 {
		if r := h.do("POST", "flood-"+strconv.Itoa(i), "x"); r.status != 201 {
			t.Fatalf("key %d = %d, want 201", i, r.status)
		}
		if got := h.store.Len(); got > maxEntries {
			t.Fatalf("after %d keys store.Len() = %d, want <= %d", i+1, got, maxEntries)
		}
	}
	if r := h.do("POST", "flood-299", "x"); r.header["idempotent-replayed"] != "true" {
		t.Errorf("newest key evicted; want oldest first")
	}
	if r := h.do("POST", "flood-0", "x"); r.header["idempotent-replayed"] != "" {
		t.Errorf("oldest key still stored after the flood")
	}
}

func TestIdempotencyFullOfInFlight(t *testing.T) {
	entered, release := make(chan int64, 4), make(chan struct{})
	h := newIdemHarness(t, Options{MaxEntries: 2}, blockingHandler(entered, release, nil))
	results := make(chan idemResult, 2)
	for _, k := range []string{"a", "b"} {
		go func() { results <- h.do("POST", k, "x") }()
		<-entered
	}
	r := h.do("POST", "c", "x")
	if r.status != 503 || r.header["retry-after"] != "1" {
		t.Errorf("third key with store full of in-flight = %d Retry-After %q, want 503 and 1", r.status, r.header["retry-after"])
	}
	close(release)
	<-results
	<-results
	if r := h.do("POST", "c", "x"); r.status != 201 {
		t.Errorf("after in-flight finished = %d, want 201", r.status)
	}
}

func TestIdempotencyLargeResponses(t *testing.T) {
	const limit = 256
	big := strings.Repeat("B", 4*limit)
	small := strings.Repeat("s", 32)
	tests := []struct {
		name       string
		handler    func(ctx *fasthttp.RequestCtx)
		wantBody   string
		wantStored bool
	}{
		{"large body", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(big) }, big, false},
		{"large header", func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.Set("X-Big", big)
			ctx.SetBodyString(small)
		}, small, false},
		{"small stream with length", func(ctx *fasthttp.RequestCtx) {
			ctx.SetBodyStream(strings.NewReader(small), len(small))
		}, small, true},
		{"large stream with length", func(ctx *fasthttp.RequestCtx) {
			ctx.SetBodyStream(strings.NewReader(big), len(big))
		}, big, false},
		{"small stream without length", func(ctx *fasthttp.RequestCtx) {
			ctx.SetBodyStream(strings.NewReader(small), -1)
		}, small, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newIdemHarness(t, Options{MaxResponseBytes: limit}, func(ctx *fasthttp.RequestCtx, _ int64) { tc.handler(ctx) })
			for i := range 2 {
				if r := h.do("POST", "k", "x"); r.status != 200 || r.body != tc.wantBody {
					t.Fatalf("request %d = %d, %d bytes, want 200 and %d bytes", i, r.status, len(r.body), len(tc.wantBody))
				}
			}
			wantRuns := int64(2)
			if tc.wantStored {
				wantRuns = 1
			}
			if got := h.runs.Load(); got != wantRuns {
				t.Errorf("runs = %d, want %d", got, wantRuns)
			}
			if got := h.store.StoredBytes(); got > limit {
				t.Errorf("StoredBytes() = %d, want <= %d", got, limit)
			}
		})
	}
}

func TestIdempotencyPanicReleasesKey(t *testing.T) {
	store, err := NewMemoryStore(Options{})
	if err != nil {
		t.Fatal(err)
	}
	idem, err := NewHandler(store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/charges")
	req.Header.Set(KeyHeader, "boom")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("panic did not propagate")
			}
		}()
		idem.Handle(&ctx, []byte("r"), NextFunc(func(*fasthttp.RequestCtx) { panic("handler bug") }))
	}()
	if got := store.InFlight(); got != 0 {
		t.Errorf("after panic InFlight() = %d, want 0", got)
	}
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	fpA, fpB := [32]byte{1}, [32]byte{2}
	s, err := NewMemoryStore(Options{MaxResponseBytes: 10, MaxStoredBytes: 20})
	if err != nil {
		t.Fatal(err)
	}
	begin := func(key string, fp [32]byte, want State) Begin {
		t.Helper()
		b, err := s.Begin(ctx, []byte(key), fp)
		if err != nil || b.State != want {
			t.Fatalf("Begin(%q) = %v, %v, want %v", key, b.State, err, want)
		}
		return b
	}
	begin("k", fpA, StateNew)
	b := begin("k", fpA, StateInFlight)
	begin("k", fpB, StateMismatch)
	if err := s.Complete(ctx, []byte("k"), &StoredResponse{StatusCode: 200, Body: []byte("12345678")}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	select {
	case <-b.Done:
	default:
		t.Fatalf("Done not closed by Complete")
	}
	if r := begin("k", fpA, StateReplay).Response; string(r.Body) != "12345678" {
		t.Errorf("replayed body = %q", r.Body)
	}
	if err := s.Complete(ctx, []byte("k"), &StoredResponse{}); err == nil {
		t.Errorf("Complete of a completed key = nil, want error")
	}
	if err := s.Abort(ctx, []byte("nope")); err == nil {
		t.Errorf("Abort of an unknown key = nil, want error")
	}
	// Too large for MaxResponseBytes: released.
	begin("big", fpA, StateNew)
	if err := s.Complete(ctx, []byte("big"), &StoredResponse{Body: []byte("0123456789x")}); err != nil {
		t.Fatalf("Complete(big): %v", err)
	}
	begin("big", fpA, StateNew)
	if err := s.Abort(ctx, []byte("big")); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	// MaxStoredBytes: a third 8-byte response evicts the oldest.
	for _, k := range []string{"k2", "k3"} {
		begin(k, fpA, StateNew)
		if err := s.Complete(ctx, []byte(k), &StoredResponse{Body: []byte("abcdefgh")}); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.StoredBytes(); got > 20 {
		t.Errorf("StoredBytes() = %d, want <= 20", got)
	}
	begin("k", fpA, StateNew) // evicted
	begin("k3", fpA, StateReplay)
}

func TestIdempotencyOptionsInvalid(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"negative TTL", Options{TTL: -1}},
		{"negative MaxEntries", Options{MaxEntries: -1}},
		{"negative MaxResponseBytes", Options{MaxResponseBytes: -1}},
		{"negative MaxKeyLength", Options{MaxKeyLength: -1}},
		{"negative WaitTimeout", Options{WaitTimeout: -1}},
		{"unknown OnConcurrent", Options{OnConcurrent: "queue"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewHandler(nil, tc.o); err == nil {
				t.Errorf("NewHandler(%+v) = nil error, want one", tc.o)
			}
			if _, err := NewMemoryStore(tc.o); err == nil {
				t.Errorf("NewMemoryStore(%+v) = nil error, want one", tc.o)
			}
		})
	}
}

func TestValidateIdempotencyKey(t *testing.T) {
	tests := []struct {
		key  string
		want error
	}{
		{"550e8400-e29b-41d4-a716-446655440000", nil},
		{"a b~!", nil},
		{"", ErrKeyInvalid},
		{"tab\there", ErrKeyInvalid},
		{"del\x7f", ErrKeyInvalid},
		{"é", ErrKeyInvalid},
		{strings.Repeat("k", 41), ErrKeyTooLong},
		{strings.Repeat("k", 1<<20), ErrKeyTooLong},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%.20q", tc.key), func(t *testing.T) {
			if err := validateKey([]byte(tc.key), 40); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("validateKey(%.20q) = %v, want %v", tc.key, err, tc.want)
			}
		})
	}
}

func FuzzIdempotencyKey(f *testing.F) {
	for _, s := range []string{"", "k", "550e8400-e29b-41d4-a716-446655440000", "a\x00b", "\x7f", "é", strings.Repeat("z", 300)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, k []byte) {
		err := validateKey(k, 255)
		ok := len(k) >= 1 && len(k) <= 255
		for _, c := range k {
			ok = ok && c >= 0x20 && c <= 0x7e
		}
		if ok != (err == nil) {
			t.Fatalf("validateKey(%q) = %v, want ok=%v", k, err, ok)
		}
		if err != nil && !errors.Is(err, ErrKeyInvalid) && !errors.Is(err, ErrKeyTooLong) {
			t.Fatalf("validateKey(%q) = %v, not a sentinel", k, err)
		}
	})
}

// TestIdempotencyHammer sends concurrent duplicates over a few keys, some with
// a conflicting body, and checks that each key's handler ran exactly once and
// that every success for a key carries the same answer.
func TestIdempotencyHammer(t *testing.T) {
	var mu sync.Mutex
	perKey := map[string]int{}
	h := newIdemHarness(t, Options{}, func(ctx *fasthttp.RequestCtx, n int64) {
		mu.Lock()
		perKey[string(ctx.Request.Header.Peek(KeyHeader))]++
		mu.Unlock()
		chargeHandler(ctx, n)
	})
	go func() { // nobody needs the in-flight signals here
		for range h.signal.inFlight {
		}
	}()
	t.Cleanup(func() { close(h.signal.inFlight) })
	const workers, perWorker, keys = 16, 40, 6
	var wg sync.WaitGroup
	answers := make([]sync.Map, keys)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				k := (w + i) % keys
				body := "amount=" + strconv.Itoa(k)
				if (w*perWorker+i)%7 == 0 {
					body += "-tampered" // same key, other body: 422 unless it won the key
				}
				r := h.do("POST", "hammer-"+strconv.Itoa(k), body)
				switch r.status {
				case 201:
					answers[k].Store(r.body, true)
				case 422:
				default:
					t.Errorf("key %d = %d %q, want 201 or 422", k, r.status, r.body)
				}
			}
		})
	}
	wg.Wait()
	for k, n := range perKey {
		if n != 1 {
			t.Errorf("key %q ran %d times, want 1", k, n)
		}
	}
	for k := range answers {
		distinct := 0
		answers[k].Range(func(any, any) bool { distinct++; return true })
		if distinct > 1 {
			t.Errorf("key %d got %d distinct successful answers, want 1", k, distinct)
		}
	}
}

func BenchmarkIdempotencyReplay(b *testing.B) {
	idem, err := NewHandler(nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/charges")
	req.Header.Set(KeyHeader, "550e8400-e29b-41d4-a716-446655440000")
	req.SetBodyString(`{"amount":100,"currency":"eur"}`)
	body := bytes.Repeat([]byte("x"), 512)
	next := NextFunc(func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(201)
		ctx.SetBody(body)
	})
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	scope := []byte("route")
	idem.Handle(&ctx, scope, next)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		idem.Handle(&ctx, scope, next)
	}
	if string(ctx.Response.Header.Peek(ReplayedHeader)) != "true" {
		b.Fatalf("not replayed")
	}
}

// The store's lifecycle, as Handler.Handle drives it: claim, complete,
// replay, and a conflicting body.
func ExampleMemoryStore() {
	ctx := context.Background()
	store, _ := NewMemoryStore(Options{})
	key := []byte("payments\x00customer-7\x00order-42") // route, client, Idempotency-Key
	fp := [32]byte{0x42}                                // sha256 of method, URI and body

	b, _ := store.Begin(ctx, key, fp)
	fmt.Println(b.State) // run the request, then:
	_ = store.Complete(ctx, key, &StoredResponse{StatusCode: 201, Body: []byte(`{"charge":1}`)})

	b, _ = store.Begin(ctx, key, fp)
	fmt.Println(b.State, b.Response.StatusCode, string(b.Response.Body))

	b, _ = store.Begin(ctx, key, [32]byte{0x43})
	fmt.Println(b.State)
	// Output:
	// new
	// replay 201 {"charge":1}
	// mismatch
}

// TestHandleAllocs counts the allocations of Handle per request. A replay, a
// request Handle passes through and a refused one (a client can send those
// at will) allocate nothing; a first
// execution allocates only what the store keeps. Before Next and the pooled
// scratch, every idempotent request paid a closure, its key string and the
// fingerprint's hash state.
func TestHandleAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	body := bytes.Repeat([]byte("x"), 512)
	next := NextFunc(func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusCreated)
		ctx.Response.Header.Set("X-Charge-Id", "1")
		ctx.SetBody(body)
	})
	newCtx := func(method, key string) *fasthttp.RequestCtx {
		var req fasthttp.Request
		req.Header.SetMethod(method)
		req.SetRequestURI("/charges")
		if key != "" {
			req.Header.Set(KeyHeader, key)
		}
		req.SetBodyString(`{"amount":100}`)
		ctx := &fasthttp.RequestCtx{}
		ctx.Init(&req, nil, nil)
		return ctx
	}
	scope := []byte("route\x00k-client")

	t.Run("replay and pass-through", func(t *testing.T) {
		h, err := NewHandler(nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ name, method, key string }{
			{"replay", "POST", "order-1"},
			{"GET", "GET", "order-1"},
			{"no key", "POST", ""},
			{"bad key", "POST", "bad\x01key"},
			{"key too long", "POST", strings.Repeat("k", DefaultMaxKeyLength+1)},
		} {
			ctx := newCtx(tc.method, tc.key)
			h.Handle(ctx, scope, next) // first run: stores the response
			if a := testing.AllocsPerRun(200, func() {
				ctx.Response.Reset()
				h.Handle(ctx, scope, next)
			}); a != 0 {
				t.Errorf("%s: %v allocations per request, want 0", tc.name, a)
			}
		}
	})

	t.Run("first run", func(t *testing.T) {
		// Inherent, as they outlive the request: MemoryStore's four (the key
		// string, its entry, the done channel, its list element; map growth is
		// amortised away) and the response copy's three (StoredResponse, its
		// header list, one buffer for all its bytes, however many fields).
		const want = 7
		h, err := NewHandler(nil, Options{MaxEntries: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 300)
		for i := range keys {
			keys[i] = "order-" + strconv.Itoa(i)
		}
		ctx := newCtx("POST", "warm")
		h.Handle(ctx, scope, next)
		i := 0
		a := testing.AllocsPerRun(200, func() {
			ctx.Request.Header.Set(KeyHeader, keys[i])
			i++
			ctx.Response.Reset()
			h.Handle(ctx, scope, next)
		})
		if a > want {
			t.Errorf("first run: %v allocations per request, want at most %d", a, want)
		}
		t.Logf("first run: %v allocations per request", a)
	})
}
