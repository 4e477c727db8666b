//go:build !noevents

package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/internal/natstest"
	"github.com/edged/edged/strangler"
)

// urlNodeConfig is leadConfig for a node of a fleet whose state lives in an
// external NATS cluster (natstest's, with its token), replicas 3.
func urlNodeConfig(t *testing.T, node, url, upstream, plan string) string {
	cfg := leadConfig(t, node, url, upstream, helloWasm(t), plan, "")
	return strings.Replace(cfg, "[fleet]", fmt.Sprintf("token = %q\nreplicas = 3\n\n[fleet]", natstest.Token), 1)
}

// stateAge reads edged_fleet_state_age_seconds from d's /metrics.
func stateAge(t *testing.T, d *Daemon) float64 {
	t.Helper()
	resp, err := http.Get(d.AdminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "edged_fleet_state_age_seconds "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatal("no edged_fleet_state_age_seconds in /metrics")
	return 0
}

// TestFleetNATSClusterDown: three daemons keep their route state in a NATS
// cluster of three processes ([events] url, replicas 3). With the whole
// cluster stopped, every daemon serves its last-known-good state (the canary
// at 100%: the function answers), refuses an admin change with 503 and the
// reason, and its edged_fleet_state_age_seconds grows. With the cluster
// restarted on the same ports and stores, the daemons reconnect, converge on
// one revision, and a change made on one of them is accepted and reaches
// all three.
func TestFleetNATSClusterDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster of three processes")
	}
	mono := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "legacy") }))
	t.Cleanup(mono.Close)
	c := natstest.StartCluster(t, 3)
	url := c.URL()
	plan := "steps = [100]\ninterval = \"1h\"\n" // the controller never steps here
	var ds []*Daemon
	for _, n := range []string{"a", "b", "c"} {
		d, _ := startStoppable(t, urlNodeConfig(t, n, url, mono.URL, plan))
		ds = append(ds, d)
	}
	for _, d := range ds {
		waitLive(t, d, true)
	}
	if code, body := adminCall(t, ds[0], http.MethodPost, "/v1/routes/users/promote"); code != http.StatusOK {
		t.Fatalf("promote on a = %d %v", code, body)
	}
	for _, d := range ds {
		waitStage(t, d, strangler.StageCanary, 100)
	}

	for _, nd := range c.Nodes {
		nd.Kill(t)
	}
	for _, d := range ds {
		waitLive(t, d, false)
	}
	t.Run("NATS down", func(t *testing.T) {
		for _, d := range ds {
			resp, err := http.Get(d.PublicURL() + "/users")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "Hello from C\n" {
				t.Errorf("GET /users = %d %q, want the function's answer (canary at 100%%)", resp.StatusCode, body)
			}
			cl := admin.NewClient(d.AdminURL(), "token", &http.Client{Timeout: 30 * time.Second})
			_, err = cl.Rollback(t.Context(), "users", "while NATS is down")
			var ae *admin.Error
			if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable ||
				!strings.Contains(ae.Message, "cannot reach the fleet's route state in NATS") ||
				!strings.Contains(ae.Message, "refuses changes until NATS is back") {
				t.Errorf("rollback while NATS is down = %v, want 503 saying the node cannot reach the state and refuses changes", err)
			}
			if r, _ := d.table.Route("users"); r.Stage != strangler.StageCanary || r.Weight != 100 {
				t.Errorf("route = %s/%d after the refused rollback, want canary/100", r.Stage, r.Weight)
			}
		}
		// The age grows: polled, as the metric is computed when read.
		first := stateAge(t, ds[0])
		pollUntil(t, fleetWait, func() string {
			if now := stateAge(t, ds[0]); now < first+1 {
				return fmt.Sprintf("edged_fleet_state_age_seconds %v, first read %v: not growing", now, first)
			}
			return ""
		})
		for _, d := range ds[1:] {
			if age := stateAge(t, d); age <= 0 {
				t.Errorf("edged_fleet_state_age_seconds = %v while NATS is down, want > 0", age)
			}
		}
	})

	restarted := time.Now()
	c.Start(t)
	t.Run("NATS back", func(t *testing.T) {
		for _, d := range ds {
			waitLive(t, d, true)
		}
		t.Logf("all three daemons live %v after the cluster was started again (its own start included)", time.Since(restarted).Round(time.Millisecond))
		pollUntil(t, fleetWait, func() string {
			code, body := adminCall(t, ds[1], http.MethodGet, "/v1/fleet")
			nodes, _ := body["nodes"].([]any)
			revs := map[string]any{}
			for _, n := range nodes {
				n := n.(map[string]any)
				if n["live"] == true {
					revs[n["name"].(string)] = n["revision"]
				}
			}
			if code != http.StatusOK || len(revs) != 3 || revs["a"] != revs["b"] || revs["b"] != revs["c"] {
				return fmt.Sprintf("GET /v1/fleet = %d, live nodes' revisions %v: want three live at one revision", code, revs)
			}
			return ""
		})
		if a0, age := ds[0].fleet.Revision(), stateAge(t, ds[0]); a0 == 0 || age != 0 {
			t.Errorf("a: revision %d, age %v; want the bucket's revision and age 0", a0, age)
		}
		ctx, cancel := context.WithTimeout(t.Context(), fleetWait)
		defer cancel()
		cl := admin.NewClient(ds[2].AdminURL(), "token", nil)
		if _, err := cl.Rollback(ctx, "users", "NATS is back"); err != nil {
			t.Fatalf("rollback on c after NATS is back: %v", err)
		}
		for _, d := range ds {
			waitStage(t, d, strangler.StageLegacy, 0)
		}
	})
}
