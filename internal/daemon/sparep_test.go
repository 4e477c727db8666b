package daemon

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
)

// TestSpareP: with SpareP and slots left to the default, the daemon runs with
// one P more than guest slots, so guests in every slot leave a P to the
// network poller, and gives it back when it stops; an explicit slot count, or
// SpareP off (an embedder), leaves GOMAXPROCS alone.
func TestSpareP(t *testing.T) {
	t.Setenv("GOMAXPROCS", "") // the operator's variable would win; not set here
	n := runtime.GOMAXPROCS(0)
	for _, tc := range []struct {
		name                 string
		spare                bool
		slotsKey             string
		wantProcs, wantSlots int
	}{
		{"spare, default slots", true, "", n + 1, n},
		{"spare, explicit slots", true, "max_concurrent_executions = 1\n", n, 1},
		{"embedder", false, "", n, n},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := helloTOML(helloWasm(t), false)
			cfg.Runtime = tc.slotsKey
			path := writeConfig(t, cfg.String())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			d, err := New(ctx, Options{ConfigPath: path, Logger: slog.New(slog.DiscardHandler), SpareP: tc.spare})
			if err != nil {
				t.Fatal(err)
			}
			stop := serve(t, ctx, cancel, d)
			procs := runtime.GOMAXPROCS(0)
			_, slots := d.env.rt.Concurrency()
			stop()
			if procs != tc.wantProcs || slots != tc.wantSlots {
				t.Errorf("while serving: GOMAXPROCS %d, guest slots %d; want %d, %d", procs, slots, tc.wantProcs, tc.wantSlots)
			}
			if got := runtime.GOMAXPROCS(0); got != n {
				t.Errorf("GOMAXPROCS after Serve = %d, want %d back", got, n)
			}
		})
	}
}
