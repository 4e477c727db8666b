package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edged/edged/events"
	"github.com/edged/edged/router"
	"github.com/edged/edged/strangler"
)

// TestEventStatus: GET /v1/events/{id} answers pending, done or dead-lettered
// from a real embedded JetStream whose trigger answers 200, or 422 (dead-letter
// now) for events of type "bad"; without a token 401, without events 501.
func TestEventStatus(t *testing.T) {
	ctx := context.Background()
	srv, err := events.Open(ctx, events.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(ctx) })
	release := make(chan struct{})
	inv := events.InvokerFunc(func(ctx context.Context, r *http.Request) (int, http.Header, error) {
		switch r.Header.Get(events.HeaderType) {
		case "bad":
			return events.StatusDeadLetter, nil, nil
		case "slow":
			select {
			case <-release:
			case <-ctx.Done():
				return 0, nil, ctx.Err()
			}
		}
		return http.StatusOK, nil, nil
	})
	if _, err := srv.Subscribe(ctx, events.Trigger{Name: "t", Subject: "in", MaxConcurrency: 4}, inv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(release) })

	table, err := strangler.NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := router.NewServer(router.Config{Table: table}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Table: table, Server: rs, Token: []byte(adminToken), Events: srv})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a)
	t.Cleanup(hs.Close)
	env := &adminEnv{url: hs.URL}

	stateOf := func(t *testing.T, id, want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			code, _, body := env.do(t, "GET", "/v1/events/"+id, adminToken, "")
			if code != 200 {
				t.Fatalf("GET /v1/events/%s = %d %v", id, code, body)
			}
			if body["state"] == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET /v1/events/%s state = %v, want %s", id, body["state"], want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, tc := range []struct{ name, typ, want string }{
		{"done", "ok", events.StateDone},
		{"dead-lettered", "bad", events.StateDead},
		{"pending while it runs", "slow", StatePending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := srv.Publish(ctx, "in", tc.typ, []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			stateOf(t, id, tc.want)
		})
	}
	t.Run("unknown source", func(t *testing.T) {
		id, err := srv.Publish(ctx, "in", "ok", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		stateOf(t, id, events.StateDone)
		code, _, body := env.do(t, "GET", "/v1/events/"+id+"?source=other", adminToken, "")
		if code != 200 || body["state"] != StatePending {
			t.Errorf("other source = %d %v, want pending", code, body)
		}
	})
	t.Run("no token", func(t *testing.T) {
		if code, _, _ := env.do(t, "GET", "/v1/events/x", "", ""); code != 401 {
			t.Errorf("without a token = %d, want 401", code)
		}
	})
	t.Run("no events", func(t *testing.T) {
		e := startAdmin(t, nil)
		if code, _, _ := e.do(t, "GET", "/v1/events/x", adminToken, ""); code != http.StatusNotImplemented {
			t.Errorf("without events = %d, want 501", code)
		}
	})
}

// TestRouteShowsEnqueue: GET /v1/routes shows an enqueue route's subject, the
// only thing that tells it from a legacy route without an upstream.
func TestRouteShowsEnqueue(t *testing.T) {
	table, err := strangler.NewTable([]strangler.Route{{Name: "in", Path: "/in", Enqueue: "orders", Step: -1}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Table: table, Token: []byte(adminToken)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a)
	t.Cleanup(hs.Close)
	env := &adminEnv{url: hs.URL}
	code, _, body := env.do(t, "GET", "/v1/routes/in", adminToken, "")
	route, _ := body["route"].(map[string]any)
	if code != 200 || route["enqueue"] != "orders" {
		t.Errorf("GET /v1/routes/in = %d %v, want the route with enqueue orders", code, body)
	}
}
