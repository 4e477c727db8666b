//go:build !noevents

package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/strangler"
)

// procWalkWait bounds the walk of TestFleetKillLeaderMidWalk after the kill:
// a failover (the lease, the lock's TTL, a NATS cluster that lost a server)
// and the remaining steps.
const procWalkWait = 120 * time.Second

// clusterReady is the [events] ready_timeout of the clustered nodes of the
// tests: alone, a new three-node cluster is ready in 5-15 s; under the race
// detector, beside other packages' tests on two cores, it took over a minute.
const clusterReady = "4m"

// clusterNodeConfigs are the configurations of n fleet nodes (leadConfig)
// whose embedded NATS servers form one cluster on loopback ([events]
// cluster; replicas default to 3).
func clusterNodeConfigs(t *testing.T, n int, upstream, plan string) []string {
	t.Helper()
	clients, routes := freeAddrs(t, n), freeAddrs(t, n)
	cluster := `["nats://` + strings.Join(routes, `", "nats://`) + `"]`
	cfgs := make([]string, n)
	for i := range n {
		cfg := leadConfig(t, fmt.Sprint("n", i), "", upstream, helloWasm(t), plan, "")
		events := fmt.Sprintf("store_dir = \"events\"\nsync = \"interval\"\nlisten = %q\ncluster_listen = %q\ncluster = %s\nready_timeout = %q\n\n[fleet]",
			clients[i], routes[i], cluster, clusterReady)
		cfgs[i] = strings.Replace(cfg, "[fleet]", events, 1)
	}
	return cfgs
}

// startClusterProcs starts a daemon process per configuration, all at once,
// and waits until every one serves.
func startClusterProcs(t *testing.T, cfgs []string) []*daemonProc {
	t.Helper()
	ps := make([]*daemonProc, len(cfgs))
	for i, cfg := range cfgs {
		ps[i] = spawnDaemon(t, fmt.Sprint("n", i), cfg)
	}
	for _, p := range ps {
		p.awaitReady(t)
	}
	return ps
}

// procTraffic sends GET /users with varying X-User to every URL until stop
// is closed, so that a canary's users land on both sides; a dead node's
// errors are ignored.
func procTraffic(stop <-chan struct{}, urls ...string) *sync.WaitGroup {
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 2 * time.Second}
	for _, u := range urls {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				req, _ := http.NewRequest(http.MethodGet, u+"/users", nil)
				req.Header.Set("X-User", fmt.Sprint("user-", i))
				resp, err := hc.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	return &wg
}

// pollUntil calls cond every 50 ms until it returns "" or limit passes, and
// then fails the test with cond's last answer. State in another process has
// no channel to wait on.
func pollUntil(t *testing.T, limit time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", limit, why)
		}
		time.Sleep(50 * time.Millisecond) // another process's state: polled
	}
}

// procRoute is route "users" on p as its admin API shows it.
func procRoute(t *testing.T, p *daemonProc) (admin.Route, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	d, err := p.admin.Route(ctx, "users")
	return d.Route, err
}

// waitProcStage waits until every p holds route "users" at stage/weight.
func waitProcStage(t *testing.T, limit time.Duration, stage string, weight int, ps ...*daemonProc) {
	t.Helper()
	pollUntil(t, limit, func() string {
		for _, p := range ps {
			r, err := procRoute(t, p)
			if err != nil || r.Stage != stage || r.Weight != weight {
				return fmt.Sprintf("%s: route users %s/%d (%v), want %s/%d", p.name, r.Stage, r.Weight, err, stage, weight)
			}
		}
		return ""
	})
}

// waitProcsLive waits until every p follows the fleet's state live: a
// cluster's buckets are created once its servers agree, which can outlast a
// node's start.
func waitProcsLive(t *testing.T, limit time.Duration, ps ...*daemonProc) {
	t.Helper()
	pollUntil(t, limit, func() string {
		for _, p := range ps {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			st, err := p.admin.Fleet(ctx)
			cancel()
			if err != nil || !st.Self.Live {
				return fmt.Sprintf("%s not live (%v)", p.name, err)
			}
		}
		return ""
	})
}

// procLeader waits until exactly one of ps says it leads, and returns it.
func procLeader(t *testing.T, limit time.Duration, ps ...*daemonProc) *daemonProc {
	t.Helper()
	var leader *daemonProc
	pollUntil(t, limit, func() string {
		var leaders []*daemonProc
		for _, p := range ps {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			st, err := p.admin.Fleet(ctx)
			cancel()
			if err == nil && st.Self.Leader {
				leaders = append(leaders, p)
			}
		}
		if len(leaders) != 1 {
			return fmt.Sprintf("%d nodes lead, want 1", len(leaders))
		}
		leader = leaders[0]
		return ""
	})
	return leader
}

// TestFleetKillLeaderMidWalk: three nodes, each a daemon process whose
// embedded NATS server is one of a cluster of three (replicas 3), walk a
// plan of four canary steps. Right after the controller's first step the
// leader's process is killed with SIGKILL (its NATS server dies with it, so
// it neither resigns nor flushes). Another node takes over and finishes the
// walk; the fleet's history has every step exactly once, in order, and no
// controller step sooner than the plan's interval after the previous step.
func TestFleetKillLeaderMidWalk(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemon processes and a NATS cluster")
	}
	mono := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "legacy") }))
	t.Cleanup(mono.Close)
	const interval = 2 * time.Second
	plan := fmt.Sprintf("steps = [25, 50, 75, 100]\ninterval = %q\nmin_requests = 5\nmax_latency_ratio = 1000.0\n", interval)
	ps := startClusterProcs(t, clusterNodeConfigs(t, 3, mono.URL, plan))

	waitProcsLive(t, procWalkWait, ps...)
	stop := make(chan struct{})
	wg := procTraffic(stop, ps[0].publicURL, ps[1].publicURL, ps[2].publicURL)
	defer wg.Wait()
	defer close(stop)
	if _, err := ps[1].admin.Promote(t.Context(), "users", "walk"); err != nil {
		t.Fatalf("promote on n1: %v", err)
	}
	waitProcStage(t, procWalkWait, "canary", 50, ps...) // the controller's first step
	old := procLeader(t, procWalkWait, ps...)
	killed := time.Now()
	old.kill()
	var survivors []*daemonProc
	for _, p := range ps {
		if p != old {
			survivors = append(survivors, p)
		}
	}
	waitProcStage(t, procWalkWait, "isolate", 100, survivors...)
	t.Logf("%s killed at canary/50; the walk finished %v later", old.name, time.Since(killed).Round(time.Millisecond))
	next := procLeader(t, procWalkWait, survivors...)
	if next == old {
		t.Fatalf("the killed node leads")
	}

	var page struct {
		Events []admin.Event `json:"events"`
	}
	// The history line of the last step follows its write (settledHistory).
	pollUntil(t, 5*time.Second, func() string {
		if err := survivors[0].get(t.Context(), "/v1/fleet/events?route=users&limit=100", &page); err != nil {
			return err.Error()
		}
		if n := len(page.Events); n == 0 || page.Events[n-1].To != strangler.StageIsolate.String() {
			return fmt.Sprintf("history %+v does not end at isolate", page.Events)
		}
		return ""
	})
	var walk []string
	var prev time.Time
	for _, ev := range page.Events {
		walk = append(walk, fmt.Sprintf("%s %s/%d", strings.SplitN(ev.Actor, ":", 2)[0], ev.To, ev.Weight))
		if ev.Actor == strangler.ActorController {
			if gap := ev.Time.Sub(prev); gap < interval {
				t.Errorf("controller step to %s/%d %v after the previous step, want >= %v", ev.To, ev.Weight, gap, interval)
			}
		}
		prev = ev.Time
	}
	want := []string{"admin canary/25", "controller canary/50", "controller canary/75", "controller canary/100", "controller isolate/100"}
	t.Logf("history: %s; %s led, then %s", strings.Join(walk, ", "), old.name, next.name)
	if strings.Join(walk, ", ") != strings.Join(want, ", ") {
		t.Errorf("history = %s\nwant       %s (each step once)", strings.Join(walk, ", "), strings.Join(want, ", "))
	}
	// Every node that is left applied the same revision of the route state.
	pollUntil(t, procWalkWait, func() string {
		var revs []uint64
		for _, p := range survivors {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			st, err := p.admin.Fleet(ctx)
			cancel()
			if err != nil {
				return err.Error()
			}
			revs = append(revs, st.Self.Revision)
		}
		if revs[0] != revs[1] {
			return fmt.Sprintf("revisions %v differ", revs)
		}
		return ""
	})
}
