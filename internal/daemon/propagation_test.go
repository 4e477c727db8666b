//go:build !noevents

package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/strangler"
)

// startClusterDaemons starts, in this process, a daemon per configuration,
// all at once (their embedded NATS servers form one cluster, ready once a
// majority is up), and stops them when the test ends.
func startClusterDaemons(t *testing.T, cfgs []string) []*Daemon {
	t.Helper()
	ds := make([]*Daemon, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		dir := t.TempDir()
		path := filepath.Join(dir, "router.toml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		wg.Go(func() {
			d, err := New(ctx, Options{ConfigPath: path, Logger: slog.New(slog.DiscardHandler)})
			ds[i], errs[i] = d, err
			if err != nil {
				cancel()
				return
			}
			served := make(chan error, 1)
			go func() { served <- d.Serve(ctx) }()
			t.Cleanup(func() {
				cancel()
				if err := <-served; err != nil {
					t.Errorf("Serve() = %v, want nil after cancel", err)
				}
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node n%d: %v", i, err)
		}
	}
	return ds
}

// waitWeight waits, on the table's watch channel, until d's route "users"
// has weight w, and returns when it saw it.
func waitWeight(t *testing.T, d *Daemon, w int) time.Time {
	t.Helper()
	deadline := time.After(fleetWait)
	for {
		ch := d.table.Watch()
		if r, _ := d.table.Route("users"); r.Weight == w {
			return time.Now()
		}
		select {
		case <-ch:
		case <-deadline:
			r, _ := d.table.Route("users")
			t.Fatalf("route at weight %d after %v, want %d", r.Weight, fleetWait, w)
		}
	}
}

// TestFleetPropagation measures what the fleet promises a person: three
// daemons, each with its embedded NATS server in one cluster (replicas 3);
// 100 weight changes posted one after the other on node n0's admin API,
// each timed from the POST until all three nodes' routing tables hold it.
// It logs p50, p99 and the maximum (docs/fleet.md quotes them) and fails
// beyond the contract's second.
func TestFleetPropagation(t *testing.T) {
	if testing.Short() {
		t.Skip("a NATS cluster and 100 changes")
	}
	mono := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "legacy") }))
	t.Cleanup(mono.Close)
	plan := "steps = [50]\ninterval = \"1h\"\n" // the controller never steps here
	ds := startClusterDaemons(t, clusterNodeConfigs(t, 3, mono.URL, plan))
	for _, d := range ds {
		waitLive(t, d, true)
	}
	cl := admin.NewClient(ds[0].AdminURL(), "token", &http.Client{Timeout: fleetWait})
	if _, err := cl.Promote(t.Context(), "users", "propagation"); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		waitStage(t, d, strangler.StageCanary, 50)
	}

	const changes = 100
	took := make([]time.Duration, 0, changes)
	for i := range changes {
		w := 1 + i // never the weight before it
		start := time.Now()
		if _, err := cl.SetWeight(t.Context(), "users", w, "propagation"); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		var last time.Time
		for _, d := range ds {
			if at := waitWeight(t, d, w); at.After(last) {
				last = at
			}
		}
		took = append(took, last.Sub(start))
	}
	slices.Sort(took)
	p50, p99, worst := took[changes/2-1], took[changes*99/100-1], took[changes-1]
	t.Logf("admin weight change on n0 -> applied on all 3 nodes, %d changes: p50 %v, p99 %v, max %v",
		changes, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), worst.Round(10*time.Microsecond))
	if p99 > time.Second {
		t.Errorf("p99 %v, want <= 1s (%s)", p99, fmt.Sprint(took[changes-5:]))
	}
}
