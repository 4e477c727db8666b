package router

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/auth"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"
)

// recordingEnqueuer keeps what enqueue routes publish, drawing ids as the
// events engine does; subject "down" fails as an engine that is down.
type recordingEnqueuer struct {
	mu   sync.Mutex
	got  []EnqueuedEvent
	subj []string
	n    int
}

func (r *recordingEnqueuer) Enqueue(_ context.Context, subject string, ev *EnqueuedEvent) error {
	if subject == "down" {
		return errors.New("no stream")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if ev.ID == "" {
		ev.ID = "drawn-" + strings.Repeat("x", r.n)
	}
	c := *ev
	c.Data = append([]byte(nil), ev.Data...)
	r.got = append(r.got, c)
	r.subj = append(r.subj, subject)
	return nil
}

func (r *recordingEnqueuer) last() (string, EnqueuedEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.subj[len(r.subj)-1], r.got[len(r.got)-1]
}

func enqueueServer(t *testing.T, eq Enqueuer) (*Server, *authFixture) {
	t.Helper()
	f := newAuthFixture(t)
	a, err := auth.New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	lim, err := limits.NewLimiter(limits.LimiterOptions{Rate: limits.Rate{Events: 1, Per: time.Hour}, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	table, err := strangler.NewTable([]strangler.Route{
		{Name: "orders", Path: "/orders", Enqueue: "orders.new", Step: -1},
		{Name: "private", Path: "/private", Enqueue: "orders.private", Step: -1},
		{Name: "limited", Path: "/limited", Enqueue: "orders.limited", Step: -1},
		{Name: "small", Path: "/small", Enqueue: "orders.small", Step: -1},
		{Name: "down", Path: "/down", Enqueue: "down", Step: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(Config{Table: table}, &World{Auth: a, Enqueuer: eq, Routes: map[string]RouteOptions{
		"private": {RequireAuth: true},
		"limited": {RateLimit: lim},
		"small":   {MaxRequestBody: 4},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

func enqueueCtx(uri, body string, hdr ...string) *fasthttp.RequestCtx {
	ctx := newCtx("POST", uri)
	ctx.Request.SetBodyString(body)
	for i := 0; i+1 < len(hdr); i += 2 {
		ctx.Request.Header.Set(hdr[i], hdr[i+1])
	}
	return ctx
}

// TestEnqueueRoute: an enqueue route publishes the request as a CloudEvent
// (source per route, type from ce-type or the default, data = body,
// Content-Type carried) and answers 202 with the id and its status path; the
// gateway runs first; an engine that fails answers 503.
func TestEnqueueRoute(t *testing.T) {
	eq := &recordingEnqueuer{}
	s, f := enqueueServer(t, eq)
	tests := []struct {
		name       string
		ctx        *fasthttp.RequestCtx
		wantStatus int
		wantSubj   string
		wantType   string
	}{
		{"default type", enqueueCtx("/orders", `{"n":1}`, "Content-Type", "application/json"), 202, "orders.new", DefaultEnqueueType},
		{"client type", enqueueCtx("/orders", "x", "ce-type", "com.example.order"), 202, "orders.new", "com.example.order"},
		{"type not printable", enqueueCtx("/orders", "x", "ce-type", "a\x01b"), 400, "", ""},
		{"key too long", enqueueCtx("/orders", "x", "Idempotency-Key", strings.Repeat("k", 300)), 400, "", ""},
		{"auth first", enqueueCtx("/private", "x"), 401, "", ""},
		{"auth passes", enqueueCtx("/private", "x", "X-API-Key", f.apiKey), 202, "orders.private", DefaultEnqueueType},
		{"rate limit passes once", enqueueCtx("/limited", "x"), 202, "orders.limited", DefaultEnqueueType},
		{"rate limit refuses", enqueueCtx("/limited", "x"), 429, "", ""},
		{"body cap", enqueueCtx("/small", "12345"), 413, "", ""},
		{"engine down", enqueueCtx("/down", "x"), 503, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eq.mu.Lock()
			before := len(eq.got)
			eq.mu.Unlock()
			s.Handler(tc.ctx)
			if got := tc.ctx.Response.StatusCode(); got != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", got, tc.wantStatus, tc.ctx.Response.Body())
			}
			eq.mu.Lock()
			published := len(eq.got) - before
			eq.mu.Unlock()
			if tc.wantStatus != 202 {
				if published != 0 {
					t.Errorf("published %d events, want none", published)
				}
				return
			}
			subj, ev := eq.last()
			var ans struct{ ID, Status string }
			if err := json.Unmarshal(tc.ctx.Response.Body(), &ans); err != nil {
				t.Fatalf("body %q: %v", tc.ctx.Response.Body(), err)
			}
			route := strings.TrimPrefix(string(tc.ctx.Request.URI().Path()), "/")
			if subj != tc.wantSubj || ev.Type != tc.wantType || ev.Source != EnqueueSourcePrefix+route ||
				string(ev.Data) != string(tc.ctx.Request.Body()) {
				t.Errorf("published %s %+v, want %s type %s source %s", subj, ev, tc.wantSubj, tc.wantType, EnqueueSourcePrefix+route)
			}
			if ans.ID != ev.ID || ans.Status != "/v1/events/"+ev.ID+"?source=edged%2Froutes%2F"+route {
				t.Errorf("answer = %+v, want id %s and its status path", ans, ev.ID)
			}
			if ct := string(tc.ctx.Request.Header.ContentType()); ev.ContentType != ct {
				t.Errorf("content type = %q, want %q", ev.ContentType, ct)
			}
		})
	}
}

// TestEnqueueIdempotencyKey: the same Idempotency-Key (or ce-id) from the
// same client gives the same event id, so the engine stores a retry once;
// another client's same key, or another key, gives another id.
func TestEnqueueIdempotencyKey(t *testing.T) {
	eq := &recordingEnqueuer{}
	s, _ := enqueueServer(t, eq)
	idOf := func(ip byte, hdr ...string) string {
		var req fasthttp.Request
		req.Header.SetMethod("POST")
		req.SetRequestURI("/orders")
		req.Header.SetHost("edge.example")
		req.SetBodyString("x")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		ctx := &fasthttp.RequestCtx{}
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, ip), Port: 4242}, nil)
		s.Handler(ctx)
		if ctx.Response.StatusCode() != 202 {
			t.Fatalf("status = %d, want 202", ctx.Response.StatusCode())
		}
		_, ev := eq.last()
		return ev.ID
	}
	a := idOf(1, "Idempotency-Key", "k1")
	for _, tc := range []struct {
		name string
		id   string
		same bool
	}{
		{"retry", idOf(1, "Idempotency-Key", "k1"), true},
		{"ce-id header", idOf(1, "ce-id", "k1"), true},
		{"other key", idOf(1, "Idempotency-Key", "k2"), false},
		{"other client", idOf(2, "Idempotency-Key", "k1"), false},
		{"no key", idOf(1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.id == a) != tc.same {
				t.Errorf("id %q vs first %q: same = %v, want %v", tc.id, a, tc.id == a, tc.same)
			}
		})
	}
}

// TestEnqueueWithoutEnqueuer: a World without an Enqueuer answers 503 on an
// enqueue route rather than dropping the request.
func TestEnqueueWithoutEnqueuer(t *testing.T) {
	table, err := strangler.NewTable([]strangler.Route{{Name: "in", Path: "/in", Enqueue: "in", Step: -1}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(Config{Table: table}, &World{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := enqueueCtx("/in", "x")
	s.Handler(ctx)
	if got := ctx.Response.StatusCode(); got != fasthttp.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", got)
	}
}
