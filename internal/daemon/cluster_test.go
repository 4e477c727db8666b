//go:build !noevents

package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/strangler"
)

// freeAddrs returns n loopback addresses free at the time of the call.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ln.Addr().String())
		ln.Close()
	}
	return out
}

// TestFleetDaemonsClustered: three daemons on one host, each with its
// embedded NATS server, form one NATS cluster ([events] cluster) and one
// fleet. Their servers are named after their [fleet] node: with the host
// name, the default, all three had the same name and the cluster refused
// them. A promotion on the first node reaches the third; the first to lead
// is known to all.
func TestFleetDaemonsClustered(t *testing.T) {
	mono := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "legacy") }))
	t.Cleanup(mono.Close)
	clients, routes := freeAddrs(t, 3), freeAddrs(t, 3)
	cluster := `["nats://` + strings.Join(routes, `", "nats://`) + `"]`
	ds := make([]*Daemon, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		cfg := fleetConfig(t, fmt.Sprint("n", i), clients[i], "", mono.URL)
		cfg = strings.Replace(cfg, "[fleet]", fmt.Sprintf("cluster_listen = %q\ncluster = %s\n\n[fleet]", routes[i], cluster), 1)
		dir := t.TempDir()
		path := filepath.Join(dir, "router.toml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		// A cluster is ready once a majority is up: the nodes start together.
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
