//go:build !noevents

package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/strangler"
)

// TestFleetDaemonsClustered: three daemons on one host, each with its
// embedded NATS server, form one NATS cluster ([events] cluster) and one
// fleet. Their servers are named after their [fleet] node: with the host
// name, the default, all three had the same name and the cluster refused
// them. A promotion on the first node reaches the third; the first to lead
// is known to all.
func TestFleetDaemonsClustered(t *testing.T) {
	mono := legacyServer(t)
	clients, routes := freeAddrs(t, 3), freeAddrs(t, 3)
	cluster := `["nats://` + strings.Join(routes, `", "nats://`) + `"]`
	ds := make([]*Daemon, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		cfg := fleetTOML(t, fmt.Sprint("n", i), clients[i], "", mono)
		cfg.Events += fmt.Sprintf("\ncluster_listen = %q\ncluster = %s\nready_timeout = %q", routes[i], cluster, clusterReady)
		path := writeConfig(t, cfg.String())
		ctx, cancel := context.WithCancel(context.Background())
		// A cluster is ready once a majority is up: the nodes start together.
		wg.Go(func() {
			d, err := New(ctx, Options{ConfigPath: path, Logger: slog.New(slog.DiscardHandler)})
			ds[i], errs[i] = d, err
			if err != nil {
				cancel()
				return
			}
			serve(t, ctx, cancel, d)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node n%d: %v", i, err)
		}
	}
	watch := ds[2].table.Watch()
	if code, body := adminCall(t, ds[0], http.MethodPost, "/v1/routes/users/promote"); code != http.StatusOK {
		t.Fatalf("promote on n0 = %d %v", code, body)
	}
	deadline := time.After(fleetWait)
	for {
		if r, _ := ds[2].table.Route("users"); r.Stage == strangler.StageShadow {
			break
		}
		select {
		case <-watch:
			watch = ds[2].table.Watch()
		case <-deadline:
			r, _ := ds[2].table.Route("users")
			t.Fatalf("n2's route is %s after n0's promotion, want shadow", r.Stage)
		}
	}
	leader := waitLeader(t, ds...)
	if n := leader.fleet.Status(t.Context()).Self.Name; !strings.HasPrefix(n, "n") {
		t.Errorf("leader's name = %q", n)
	}
}
