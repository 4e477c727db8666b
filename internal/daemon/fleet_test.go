package daemon

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/events"
	"github.com/edged/edged/strangler"
)

// TestFleetDaemons: two daemons, one serving the embedded NATS server the
// other joins. A promotion through A's admin API reaches B's table within a
// second; B's GET /v1/fleet lists both nodes; both report a state age of 0.
func TestFleetDaemons(t *testing.T) {
	mono := legacyServer(t)
	natsAddr := freeAddrs(t, 1)[0]
	a, _ := startDaemon(t, fleetConfig(t, "a", natsAddr, "", mono))
	b, _ := startDaemon(t, fleetConfig(t, "b", "", "nats://"+natsAddr, mono))

	watch := b.table.Watch()
	if code, body := adminCall(t, a, http.MethodPost, "/v1/routes/users/promote"); code != http.StatusOK {
		t.Fatalf("promote on A = %d %v", code, body)
	}
	deadline := time.After(time.Second)
	for {
		if r, _ := b.table.Route("users"); r.Stage == strangler.StageShadow {
			break
		}
		select {
		case <-watch:
			watch = b.table.Watch()
		case <-deadline:
			r, _ := b.table.Route("users")
			t.Fatalf("B's route is %s a second after A's promotion, want shadow", r.Stage)
		}
	}
	code, body := adminCall(t, b, http.MethodGet, "/v1/fleet")
	if code != http.StatusOK {
		t.Fatalf("GET /v1/fleet on B = %d %v", code, body)
	}
	var names []string
	for _, n := range body["nodes"].([]any) {
		names = append(names, n.(map[string]any)["name"].(string))
	}
	// A registers at start (its first heartbeat); B lists itself always.
	if got := strings.Join(names, ","); got != "a,b" {
		t.Errorf("nodes = %s, want a,b", got)
	}
	for _, d := range []*Daemon{a, b} {
		if m := scrape(t, d); !strings.Contains(m, "edged_fleet_state_age_seconds 0\n") {
			t.Errorf("metrics lack edged_fleet_state_age_seconds 0")
		}
	}
	code, body = adminCall(t, b, http.MethodGet, "/v1/fleet/events?route=users")
	evs, _ := body["events"].([]any)
	if code != http.StatusOK || len(evs) != 1 || evs[0].(map[string]any)["kind"] != "promote" ||
		evs[0].(map[string]any)["reason"] != "(on node a)" {
		t.Errorf("fleet events on B = %d %v, want A's promotion", code, body)
	}
}

// TestFleetDaemonWithoutNATS: a node whose NATS goes away keeps serving,
// answers route actions with 503 and the reason, reports a state age above
// 0, and takes changes again once NATS is back.
func TestFleetDaemonWithoutNATS(t *testing.T) {
	mono := legacyServer(t)
	addr := freeAddrs(t, 1)[0]
	store := t.TempDir()
	open := func() *events.Server {
		srv, err := events.Open(context.Background(), events.Options{StoreDir: store, Listen: addr, Sync: events.SyncInterval})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := open()
	d, _ := startDaemon(t, fleetConfig(t, "b", "", "nats://"+addr, mono))
	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitLive(t, d, false)
	code, body := adminCall(t, d, http.MethodPost, "/v1/routes/users/promote")
	if code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(body["error"]), "last-known-good") {
		t.Errorf("promote without NATS = %d %v, want 503 saying the node serves its last-known-good state", code, body)
	}
	if r, _ := d.table.Route("users"); r.Stage != strangler.StageLegacy {
		t.Errorf("route moved to %s without NATS", r.Stage)
	}
	if m := scrape(t, d); strings.Contains(m, "edged_fleet_state_age_seconds 0\n") || !strings.Contains(m, "edged_fleet_state_age_seconds ") {
		t.Errorf("edged_fleet_state_age_seconds should be above 0 without NATS")
	}
	srv = open()
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	waitLive(t, d, true)
	if code, body := adminCall(t, d, http.MethodPost, "/v1/routes/users/promote"); code != http.StatusOK {
		t.Errorf("promote once NATS is back = %d %v", code, body)
	}
}

// waitLive waits, on the fleet's change channel, until the daemon's fleet
// state is live (or not).
func waitLive(t *testing.T, d *Daemon, live bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		ch := d.fleet.Changed()
		if d.fleet.Live() == live {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("fleet state live = %v, want %v", !live, live)
		}
	}
}
