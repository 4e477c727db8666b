package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/cost"
	"github.com/edged/edged/strangler"
)

// startClient serves a real API (startAdmin's table, Server and reload hook)
// on loopback and returns a Client of it with token.
func startClient(t *testing.T, reloadErr error, token string) (*adminEnv, *Client) {
	t.Helper()
	env := startAdmin(t, reloadErr)
	return env, NewClient(env.url+"/", token, nil)
}

// TestClientActions drives a route through the Client and checks each answer
// against the table behind the API.
func TestClientActions(t *testing.T) {
	env, c := startClient(t, nil, adminToken)
	ctx := context.Background()
	steps := []struct {
		name       string
		call       func() (Route, error)
		stage      string
		weight     int
		paused     bool
		wantReason string
	}{
		{"promote to shadow", func() (Route, error) { return c.Promote(ctx, "users", "looks good") }, "shadow", 0, false, "looks good"},
		{"promote to canary", func() (Route, error) { return c.Promote(ctx, "users", "") }, "canary", 5, false, ""},
		{"set weight", func() (Route, error) { return c.SetWeight(ctx, "users", 40, "halfway") }, "canary", 40, false, "halfway"},
		{"pause", func() (Route, error) { return c.Pause(ctx, "users", "") }, "canary", 40, true, ""},
		{"resume", func() (Route, error) { return c.Resume(ctx, "users", "") }, "canary", 40, false, ""},
		{"rollback", func() (Route, error) { return c.Rollback(ctx, "users", "errors") }, "legacy", 0, false, "errors"},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r, err := st.call()
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != "users" || r.Stage != st.stage || r.Weight != st.weight || r.Paused != st.paused {
				t.Errorf("answer = %+v, want users at %s %d%%, paused %v", r, st.stage, st.weight, st.paused)
			}
			tr, _ := env.table.Route("users")
			if tr.Stage.String() != st.stage || tr.Weight != st.weight || tr.Paused != st.paused {
				t.Errorf("table = %+v, want %s %d%%, paused %v", tr, st.stage, st.weight, st.paused)
			}
			ev := env.table.LatestEvents(1)[0]
			if ev.Seq != uint64(i+1) || ev.Actor != Actor || ev.Reason != st.wantReason {
				t.Errorf("event = %+v, want #%d by %s with reason %q", ev, i+1, Actor, st.wantReason)
			}
		})
	}

	routes, err := c.Routes(ctx)
	if err != nil || len(routes) != 2 || routes[0].Name != "legacy-only" || routes[0].Path != "/old" ||
		routes[1].Name != "users" || routes[1].Stage != "legacy" {
		t.Errorf("Routes = %+v, %v; want legacy-only and users, back at legacy", routes, err)
	}
	d, err := c.Route(ctx, "users")
	if err != nil || d.Route.Stage != "legacy" || len(d.Events) != len(steps) || d.Events[0].Kind != strangler.KindPromote ||
		d.Events[0].From != "legacy" || d.Events[0].To != "shadow" || d.Plan != nil || d.Stats.Noise == nil {
		t.Errorf("Route(users) = %+v, %v; want legacy, %d events from legacy->shadow, no plan", d, err, len(steps))
	}
	evs, err := c.Events(ctx, 2, 3)
	if err != nil || len(evs) != 3 || evs[0].Seq != 3 || evs[2].Seq != 5 || evs[0].Kind != strangler.KindSetWeight || evs[0].Weight != 40 {
		t.Errorf("Events(2, 3) = %+v, %v; want seqs 3..5 starting with set_weight 40", evs, err)
	}
	if all, err := c.Events(ctx, 0, 0); err != nil || len(all) != len(steps) {
		t.Errorf("Events(0, 0) = %d events, %v; want %d", len(all), err, len(steps))
	}
	if err := c.Reload(ctx); err != nil || env.reloads != 1 {
		t.Errorf("Reload = %v after %d reloads, want nil after 1", err, env.reloads)
	}
	rep, err := c.Cost(ctx)
	if err != nil || rep.Pricing != cost.DefaultPricing() || rep.Routes == nil || rep.Functions == nil {
		t.Errorf("Cost = %+v, %v; want the default prices and empty lists", rep, err)
	}
}

// TestClientErrors checks that every refusal of the API reaches the caller
// as an *Error with the API's status and message, and changes nothing.
func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		token   string
		call    func(c *Client) error
		status  int
		message string
	}{
		{"wrong token", "nope", func(c *Client) error { _, err := c.Routes(ctx); return err },
			401, "missing or invalid bearer token"},
		{"wrong token on an action", "nope", func(c *Client) error { _, err := c.Promote(ctx, "users", ""); return err },
			401, "missing or invalid bearer token"},
		{"unknown route", adminToken, func(c *Client) error { _, err := c.Route(ctx, "nope"); return err },
			404, `route "nope" not found`},
		{"route name is escaped", adminToken, func(c *Client) error { _, err := c.Promote(ctx, "users/x", ""); return err },
			404, `route "users/x" not found`},
		{"rollback at legacy", adminToken, func(c *Client) error { _, err := c.Rollback(ctx, "users", ""); return err },
			409, "rollback from legacy: no such transition"},
		{"weight outside canary", adminToken, func(c *Client) error { _, err := c.SetWeight(ctx, "users", 10, ""); return err },
			409, "set weight in legacy: no such transition"},
		{"weight out of range", adminToken, func(c *Client) error { _, err := c.SetWeight(ctx, "users", 101, ""); return err },
			400, "weight: must be 0..100"},
		{"reload refused", adminToken, func(c *Client) error { return c.Reload(ctx) }, 422, "bad config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, c := startClient(t, errors.New("bad config"), tc.token)
			before := env.table.Routes()
			err := tc.call(c)
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != tc.status || !strings.Contains(ae.Message, tc.message) {
				t.Fatalf("error = %v, want an *Error %d containing %q", err, tc.status, tc.message)
			}
			if got := ae.Error(); !strings.Contains(got, "admin API: ") || !strings.Contains(got, tc.message) {
				t.Errorf("Error() = %q, want admin API: %d ...%s", got, tc.status, tc.message)
			}
			if after, evs := env.table.Routes(), env.table.Events(0, 0); !reflect.DeepEqual(before, after) || len(evs) != 0 {
				t.Errorf("routes %+v -> %+v, events %v after a refused call", before, after, evs)
			}
		})
	}
}

// TestClientTransport checks what the Client says when it gets no answer from
// the API, or an answer that is not the API's.
func TestClientTransport(t *testing.T) {
	ctx := context.Background()
	t.Run("nothing listening", func(t *testing.T) {
		hs := httptest.NewServer(nil)
		url := hs.URL
		hs.Close()
		_, err := NewClient(url, adminToken, nil).Routes(ctx)
		var ae *Error
		if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), "admin API: ") {
			t.Errorf("Routes against a closed port = %v, want a transport error", err)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("<html>hello</html>"))
		}))
		defer hs.Close()
		_, err := NewClient(hs.URL, adminToken, nil).Routes(ctx)
		if err == nil || !strings.Contains(err.Error(), "decode GET /v1/routes") {
			t.Errorf("Routes against an HTML page = %v, want a decode error", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		_, c := startClient(t, nil, adminToken)
		ctx, cancel := context.WithDeadline(ctx, time.Unix(0, 0))
		defer cancel()
		if _, err := c.Routes(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Routes past its deadline = %v, want context.DeadlineExceeded", err)
		}
	})
}
