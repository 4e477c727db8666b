//go:build !noevents

package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/fleet"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/strangler"
)

// fleetWait bounds every wait of these tests: a failover takes a round trip
// (the stopped leader resigns), a step the plan's interval plus a tick.
const fleetWait = 30 * time.Second

// waitLeader waits until one of ds leads and returns it.
func waitLeader(t *testing.T, ds ...*Daemon) *Daemon {
	t.Helper()
	deadline := time.After(fleetWait)
	for {
		for _, d := range ds {
			if d.lead.leads() {
				return d
			}
		}
		select {
		case <-deadline:
			t.Fatalf("no node leads after %v", fleetWait)
		case <-time.After(20 * time.Millisecond): // the election is joined in the background
		}
	}
}

// waitStage waits, on the table's watch channel, until d's route "users" is
// at stage/weight.
func waitStage(t *testing.T, d *Daemon, stage strangler.Stage, weight int) {
	t.Helper()
	deadline := time.After(fleetWait)
	for {
		ch := d.table.Watch()
		r, _ := d.table.Route("users")
		if r.Stage == stage && r.Weight == weight {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("route is %s/%d after %v, want %s/%d", r.Stage, r.Weight, fleetWait, stage, weight)
		}
	}
}

// traffic sends GET /users with varying X-User through each of ds until
// stop is closed, so that a canary's users land on both sides.
func traffic(t *testing.T, stop <-chan struct{}, ds ...*Daemon) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, d := range ds {
		url := d.PublicURL() + "/users"
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("X-User", fmt.Sprint("user-", i))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue // a stopped daemon
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	return &wg
}

// TestFleetLeaderRollsBackCanary: a canary whose function fails everywhere
// but which receives traffic only through node B is rolled back, on every
// node, by the leader's controller on node A, judging B's gate windows. With
// a controller per node (before the election was wired) B rolled itself back.
func TestFleetLeaderRollsBackCanary(t *testing.T) {
	mono := legacyServer(t)
	url := natsServer(t)
	plan := "steps = [100]\ninterval = \"1h\"\nmin_requests = 20\n"
	a, _ := startStoppable(t, leadConfig(t, "a", url, mono, testdataWasm(t, "trap"), plan, ""))
	if waitLeader(t, a) != a {
		t.Fatal("a does not lead")
	}
	b, _ := startStoppable(t, leadConfig(t, "b", url, mono, testdataWasm(t, "trap"), plan, ""))

	if code, body := adminCall(t, b, http.MethodPost, "/v1/routes/users/promote"); code != http.StatusOK {
		t.Fatalf("promote on B = %d %v", code, body)
	}
	waitStage(t, a, strangler.StageCanary, 100)
	stop := make(chan struct{})
	wg := traffic(t, stop, b)
	for _, d := range []*Daemon{a, b} {
		waitStage(t, d, strangler.StageLegacy, 0)
	}
	close(stop)
	wg.Wait()

	evs := settledHistory(t, b, 10, func(ev strangler.Event) bool { return ev.Kind == strangler.KindRollback })
	last := evs[len(evs)-1]
	if last.Kind != strangler.KindRollback || last.Actor != strangler.ActorController ||
		!strings.Contains(last.Reason, "error rate") || !strings.HasSuffix(last.Reason, "(on node a)") {
		t.Errorf("last event = %+v, want the controller's rollback for the error rate, made on node a", last)
	}
	if a.lead.leads() == b.lead.leads() {
		t.Errorf("a leads %v, b leads %v: want one leader", a.lead.leads(), b.lead.leads())
	}
	// GET /v1/fleet (edged status) names the leader on both nodes.
	for _, d := range []*Daemon{a, b} {
		code, body := adminCall(t, d, http.MethodGet, "/v1/fleet")
		leaders := ""
		for _, n := range body["nodes"].([]any) {
			if n := n.(map[string]any); n["leader"] == true {
				leaders += n["name"].(string)
			}
		}
		if code != http.StatusOK || leaders != "a" {
			t.Errorf("GET /v1/fleet = %d, leaders %q, want a", code, leaders)
		}
	}
}

// TestFleetLeaderFailover: the leader's daemon is stopped mid-walk; the other
// node takes over and finishes the walk from fresh windows: every step is
// taken once (the route's history has each stage once, its generation one
// write per step), and no controller step follows the previous one sooner
// than the plan's interval (a new leader re-judging the step the old one
// had just taken would step again at once).
func TestFleetLeaderFailover(t *testing.T) {
	mono := legacyServer(t)
	url := natsServer(t)
	const interval = 2 * time.Second
	plan := fmt.Sprintf("steps = [50, 100]\ninterval = %q\nmin_requests = 5\nmax_latency_ratio = 1000.0\n", interval)
	a, stopA := startStoppable(t, leadConfig(t, "a", url, mono, helloWasm(t), plan, ""))
	b, stopB := startStoppable(t, leadConfig(t, "b", url, mono, helloWasm(t), plan, ""))
	stops := map[*Daemon]func(){a: stopA, b: stopB}

	stop := make(chan struct{})
	wg := traffic(t, stop, a, b)
	defer wg.Wait()
	defer close(stop)
	if code, body := adminCall(t, a, http.MethodPost, "/v1/routes/users/promote"); code != http.StatusOK {
		t.Fatalf("promote = %d %v", code, body)
	}
	waitStage(t, a, strangler.StageCanary, 100) // the controller's first step
	old := waitLeader(t, a, b)
	survivor := a
	if old == a {
		survivor = b
	}
	stops[old]()
	waitStage(t, survivor, strangler.StageIsolate, 100)
	if !survivor.lead.leads() {
		t.Errorf("the surviving node does not lead")
	}

	evs := settledHistory(t, survivor, 100, func(ev strangler.Event) bool { return ev.To == strangler.StageIsolate })
	var walk []string
	var prev time.Time
	for _, ev := range evs {
		walk = append(walk, fmt.Sprintf("%s %s/%d", ev.Actor, ev.To, ev.Weight))
		if ev.Actor == strangler.ActorController {
			if gap := ev.Time.Sub(prev); gap < interval {
				t.Errorf("controller step to %s/%d %v after the previous step, want >= %v", ev.To, ev.Weight, gap, interval)
			}
		}
		prev = ev.Time
	}
	t.Logf("history: %s", strings.Join(walk, ", "))
	if len(walk) != 3 || !strings.HasPrefix(walk[0], "admin") || !strings.HasSuffix(walk[0], " canary/50") ||
		walk[1] != "controller canary/100" || walk[2] != "controller isolate/100" {
		t.Errorf("history = %s, want the admin's promotion to canary/50, then the controller's to canary/100 and isolate/100, once each",
			strings.Join(walk, ", "))
	}
	// One write of the route's key per step: the import, then three moves.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(t.Context(), fleet.RoutesBucket)
	if err != nil {
		t.Fatal(err)
	}
	ent, err := kv.Get(t.Context(), fleet.RouteKey("users"))
	if err != nil {
		t.Fatal(err)
	}
	var st fleet.RouteState
	if err := json.Unmarshal(ent.Value(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Generation != 4 || st.Stage != strangler.StageIsolate {
		t.Errorf("stored route = %s, generation %d; want isolate at generation 4 (import and three steps)", st.Stage, st.Generation)
	}
}

// TestFleetIdempotencyShared: with state = "nats" a duplicate
// Idempotency-Key sent to another node is answered from the fleet's bucket:
// the upstream runs once. With each node's memory (before) it ran twice.
func TestFleetIdempotencyShared(t *testing.T) {
	var runs atomic.Int64
	mono := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "charge %d", runs.Add(1))
	}))
	t.Cleanup(mono.Close)
	url := natsServer(t)
	idem := "\n[routes.idempotency]\nenabled = true\nttl = \"1h\"\n"
	plan := "steps = [100]\n"
	a, _ := startStoppable(t, leadConfig(t, "a", url, mono.URL, helloWasm(t), plan, idem))
	b, _ := startStoppable(t, leadConfig(t, "b", url, mono.URL, helloWasm(t), plan, idem))

	post := func(d *Daemon, key string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, d.PublicURL()+"/users", strings.NewReader(`{"amount":1}`))
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header.Get("Idempotent-Replayed")
	}
	tests := []struct {
		name       string
		first, dup *Daemon
	}{
		{"a then b", a, b},
		{"b then a", b, a},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprint("order-", i)
			before := runs.Load()
			code1, body1, _ := post(tc.first, key)
			code2, body2, replayed := post(tc.dup, key)
			if code1 != http.StatusCreated || code2 != code1 || body2 != body1 || replayed != "true" {
				t.Errorf("first = %d %q, duplicate on the other node = %d %q replayed=%q; want the first answer replayed",
					code1, body1, code2, body2, replayed)
			}
			if n := runs.Load() - before; n != 1 {
				t.Errorf("the upstream ran %d times for one key, want 1", n)
			}
		})
	}
}

// TestEventsServerName: a node's embedded NATS server is named after the
// node ([fleet] node), so that daemons on one host can form a cluster;
// without a node name it keeps the events default (the host name).
func TestEventsServerName(t *testing.T) {
	tests := []struct {
		name, state, node, want string
	}{
		{"fleet node", "nats", "edge-2", "edge-2"},
		{"file state with a node name", "file", "edge-3", "edge-3"},
		{"no node name", "nats", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{Events: &config.Events{}, Fleet: config.Fleet{State: tc.state, Node: tc.node}}
			if got := eventsOptions(cfg).ServerName; got != tc.want {
				t.Errorf("ServerName = %q, want %q", got, tc.want)
			}
		})
	}
}

// settledHistory returns route "users"' history as d reads it, once its last
// event satisfies last. The node that writes a change appends its history
// line after the write, while its own watch may already apply the write: a
// reader that saw the new stage can be a few milliseconds ahead of the line.
func settledHistory(t *testing.T, d *Daemon, limit int, last func(strangler.Event) bool) []strangler.Event {
	t.Helper()
	var evs []strangler.Event
	pollUntil(t, 5*time.Second, func() string {
		var err error
		evs, err = d.fleet.History(t.Context(), "users", limit)
		if err != nil {
			return err.Error()
		}
		if len(evs) == 0 || !last(evs[len(evs)-1]) {
			return fmt.Sprintf("history %+v does not end with the awaited event", evs)
		}
		return ""
	})
	return evs
}
