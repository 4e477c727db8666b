package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/events"
	"github.com/edged/edged/strangler"
)

// TestDLQCommand runs `edged dlq list` and `edged dlq redrive` against an admin
// API backed by a real embedded JetStream whose trigger fails every event
// until the test fixes it.
func TestDLQCommand(t *testing.T) {
	ctx := context.Background()
	srv, err := events.Open(ctx, events.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(ctx) })
	var fixed atomic.Bool
	inv := events.InvokerFunc(func(context.Context, *http.Request) (int, http.Header, error) {
		if fixed.Load() {
			return http.StatusOK, nil, nil
		}
		return http.StatusInternalServerError, nil, nil
	})
	if _, err := srv.Subscribe(ctx, events.Trigger{Name: "orders", Subject: "orders", MaxRetries: -1}, inv); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		id, err := srv.Publish(ctx, "orders", "order.created", []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		dls, err := srv.DeadLetters(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		if len(dls) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters, want 2", len(dls))
		}
		time.Sleep(10 * time.Millisecond)
	}
	fixed.Store(true)
	deadline = time.Now().Add(20 * time.Second)

	table, err := strangler.NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	api, err := admin.New(admin.Config{Table: table, Token: []byte("tok"), Events: srv})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(api)
	defer hs.Close()
	token := writeFile(t, t.TempDir(), "admin.token", "tok\n", 0o600)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{"list", []string{"dlq", "list", "orders"}, 0, []string{"ID", ids[0], ids[1], "order.created", "500"}, nil},
		{"redrive one", []string{"dlq", "redrive", "orders", "-id", ids[0]}, 0, []string{"orders: redrove 1"}, nil},
		{"redrive neither", []string{"dlq", "redrive", "orders"}, 2, nil, []string{"usage: edged dlq"}},
		{"list with -all", []string{"dlq", "list", "orders", "-all"}, 2, nil, []string{"usage: edged dlq"}},
		{"unknown trigger", []string{"dlq", "list", "nope"}, 1, nil, []string{"admin API: 404"}},
		{"redrive all", []string{"dlq", "redrive", "orders", "-all"}, 0, []string{"orders: redrove 1"}, nil},
		{"list empty", []string{"dlq", "list", "orders"}, 0, []string{"orders: no dead letters"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(append(tc.args, "-admin", hs.URL, "-token-file", token), &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("edged %s = %d, want %d; stderr %q", strings.Join(tc.args, " "), code, tc.wantCode, stderr.String())
			}
			for _, w := range tc.wantStdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tc.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q: %q", w, stderr.String())
				}
			}
		})
	}
	// Redriven, the events reach the fixed function.
	for _, id := range ids {
		for {
			recs, err := srv.Status(ctx, events.DefaultSource, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 1 && recs[0].State == events.StateDone {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("event %s after redrive: %+v, want done", id, recs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
