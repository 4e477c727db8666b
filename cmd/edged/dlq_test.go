package main

import (
	"context"
	"io"
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

// TestDLQCommand runs `edged events`, `edged dlq list` and `edged dlq redrive` against an admin
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
		{"events", []string{"events"}, 0, []string{"TRIGGER", "DEDUP", "DEAD LETTERS", "\norders ", " record ", " EDGED_orders ", " 2\n"}, nil},
		{"list", []string{"dlq", "list", "orders"}, 0, []string{"ID", ids[0], ids[1], "order.created", "500"}, nil},
		{"redrive one", []string{"dlq", "redrive", "orders", "-id", ids[0]}, 0, []string{"orders: redrove 1"}, nil},
		{"redrive neither", []string{"dlq", "redrive", "orders"}, 2, nil, []string{"usage: edged dlq"}},
		{"list with -all", []string{"dlq", "list", "orders", "-all"}, 2, nil, []string{"usage: edged dlq"}},
		{"unknown trigger", []string{"dlq", "list", "nope"}, 1, nil, []string{"admin API: 404"}},
		{"redrive all", []string{"dlq", "redrive", "orders", "-all"}, 0, []string{"orders: redrove 1"}, nil},
		{"list empty", []string{"dlq", "list", "orders"}, 0, []string{"orders: no dead letters"}, nil},
		{"events after redrive", []string{"events"}, 0, []string{"\norders ", " 0\n"}, nil},
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

// TestPublishCommand runs `edged publish` against an admin API backed by a
// real embedded JetStream: the data (text or a file) reaches the trigger on
// the subject with the type given, and the printed id is the event's.
func TestPublishCommand(t *testing.T) {
	ctx := context.Background()
	srv, err := events.Open(ctx, events.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(ctx) })
	type got struct{ id, typ, data string }
	delivered := make(chan got, 8)
	inv := events.InvokerFunc(func(_ context.Context, r *http.Request) (int, http.Header, error) {
		b, _ := io.ReadAll(r.Body)
		delivered <- got{r.Header.Get(events.HeaderID), r.Header.Get(events.HeaderType), string(b)}
		return http.StatusOK, nil, nil
	})
	if _, err := srv.Subscribe(ctx, events.Trigger{Name: "orders", Subject: "orders"}, inv); err != nil {
		t.Fatal(err)
	}
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
	dir := t.TempDir()
	token := writeFile(t, dir, "admin.token", "tok\n", 0o600)
	file := writeFile(t, dir, "order.json", `{"order":42}`, 0o600)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		want       got // id is filled from stdout
		wantStderr string
	}{
		{"text", []string{"publish", "orders", "-data", "hello"}, 0, got{typ: admin.DefaultPublishType, data: "hello"}, ""},
		{"file and type", []string{"publish", "orders", "-data", "@" + file, "-type", "order.created"}, 0,
			got{typ: "order.created", data: `{"order":42}`}, ""},
		{"no stream", []string{"publish", "nowhere", "-data", "x"}, 1, got{}, "admin API: 422"},
		{"bad subject", []string{"publish", "a b", "-data", "x"}, 1, got{}, "admin API: 400"},
		{"no subject", []string{"publish", "-data", "x"}, 2, got{}, "usage: edged publish"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(append(tc.args, "-admin", hs.URL, "-token-file", token), &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("edged %s = %d, want %d; stderr %q", strings.Join(tc.args, " "), code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr lacks %q: %q", tc.wantStderr, stderr.String())
			}
			if code != 0 {
				return
			}
			tc.want.id = strings.TrimSpace(stdout.String())
			select {
			case g := <-delivered:
				if g != tc.want {
					t.Errorf("delivered %+v, want %+v", g, tc.want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the event was not delivered")
			}
		})
	}
}
