package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged/edged/events"
	"github.com/edged/edged/strangler"
)

// TestDeadLettersAndRedrive: through the Client, a trigger's dead letters are
// listed (the event that failed, its reason and attempts) and redriven, one by
// id or all, after which the fixed function processes them; unknown triggers
// and ids are 404, a body with neither or both of id and all is 400.
func TestDeadLettersAndRedrive(t *testing.T) {
	ctx := context.Background()
	srv, err := events.Open(ctx, events.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(ctx) })
	var failing atomic.Bool
	failing.Store(true)
	inv := events.InvokerFunc(func(context.Context, *http.Request) (int, http.Header, error) {
		if failing.Load() {
			return http.StatusInternalServerError, nil, nil
		}
		return http.StatusOK, nil, nil
	})
	if _, err := srv.Subscribe(ctx, events.Trigger{Name: "t", Subject: "in", MaxRetries: -1}, inv); err != nil {
		t.Fatal(err)
	}
	table, err := strangler.NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Table: table, Token: []byte(adminToken), Events: srv})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a)
	t.Cleanup(hs.Close)
	c := NewClient(hs.URL, adminToken, nil)

	wait := func(t *testing.T, id, state string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			recs, err := srv.Status(ctx, events.DefaultSource, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 1 && recs[0].State == state {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("event %s: %+v, want %s", id, recs, state)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var ids []string
	for range 3 {
		id, err := srv.Publish(ctx, "in", "x", []byte("data"))
		if err != nil {
			t.Fatal(err)
		}
		wait(t, id, events.StateDead)
		ids = append(ids, id)
	}
	dls, err := c.DeadLetters(ctx, "t")
	if err != nil || len(dls) != 3 {
		t.Fatalf("DeadLetters = %d, %v; want 3", len(dls), err)
	}
	if d := dls[0]; d.ID != ids[0] || d.Attempts != 1 || d.LastStatus != 500 || d.DataBytes != 4 || d.Subject != "in" {
		t.Errorf("first dead letter = %+v, want %s after 1 attempt with 500, 4 bytes, on in", d, ids[0])
	}
	failing.Store(false)

	for _, tc := range []struct {
		name    string
		trigger string
		req     RedriveRequest
		want    int // redriven; < 0: the status of the *Error
	}{
		{"unknown trigger", "nope", RedriveRequest{All: true}, -404},
		{"unknown id", "t", RedriveRequest{ID: "nope"}, -404},
		{"neither", "t", RedriveRequest{}, -400},
		{"both", "t", RedriveRequest{ID: ids[0], All: true}, -400},
		{"one", "t", RedriveRequest{ID: ids[0]}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := c.Redrive(ctx, tc.trigger, tc.req)
			var ae *Error
			switch {
			case tc.want < 0 && (!errors.As(err, &ae) || ae.Status != -tc.want):
				t.Errorf("Redrive = %d, %v; want status %d", n, err, -tc.want)
			case tc.want >= 0 && (err != nil || n != tc.want):
				t.Errorf("Redrive = %d, %v; want %d", n, err, tc.want)
			}
		})
	}
	wait(t, ids[0], events.StateDone)
	if n, err := c.Redrive(ctx, "t", RedriveRequest{All: true}); err != nil || n != 2 {
		t.Fatalf("Redrive all = %d, %v; want 2", n, err)
	}
	wait(t, ids[1], events.StateDone)
	wait(t, ids[2], events.StateDone)
	if dls, err := c.DeadLetters(ctx, "t"); err != nil || len(dls) != 0 {
		t.Errorf("DeadLetters after redrive = %d, %v; want none", len(dls), err)
	}
	if _, err := c.DeadLetters(ctx, "nope"); err == nil {
		t.Error("DeadLetters(unknown trigger) = nil error, want 404")
	}
}
