//go:build !noevents

package daemon

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edged/edged/fleet"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/strangler"
	"github.com/edged/edged/strangler/migrate"
)

// electRetry is the pause between attempts to join the election or to
// subscribe to the gate windows while NATS (or JetStream) cannot be reached.
const electRetry = time.Second

// fleetNode is this node's name in the fleet: [fleet] node, else the host
// name.
func fleetNode(cfg *config.Config) string { return cmp.Or(cfg.Fleet.Node, fleet.DefaultNode()) }

// fleetLeader is this node's part in the fleet's one migration controller
// (docs/fleet.md, "One controller for the fleet"): its candidacy, once
// joined.
type fleetLeader struct {
	el atomic.Pointer[fleet.Election]
}

// leads reports whether this node leads now, for the node registry.
func (l *fleetLeader) leads() bool {
	el := l.el.Load()
	return el != nil && el.IsLeader()
}

// noSamples is the controller's source between terms: a follower judges
// nothing, so the admin API shows no gates of a term that ended.
type noSamples struct{}

func (noSamples) Sample(string) (migrate.Sample, bool) { return migrate.Sample{}, false }

// runFleetController runs, until ctx ends, this node's share of the fleet's
// controller: it publishes its gate windows every second, joins the leader
// election, and for each term it wins runs d.ctrl on the fleet-wide windows
// (a fresh fleet.WindowCollector per term) until the term ends. Its
// decisions are compare-and-swap writes to the fleet's state with
// strangler.Transition.Expect, fenced by the term (fleet.State.Fenced), so
// a step is never taken twice, even by two leaders whose terms touch, and a
// deposed leader's decision never lands on a route a newer leader wrote.
func (d *Daemon) runFleetController(ctx context.Context, node string, every time.Duration) {
	log := d.o.Logger.With("component", "fleet", "node", node)
	nc := d.env.events.JetStream().Conn()
	pub, err := fleet.NewWindowPublisher(nc, node, d.server, d.runningRoutes, fleet.WindowPublisherOptions{Logger: log})
	if err != nil { // the node name was checked by OpenState already
		log.Error("fleet: gate windows", "err", err)
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { pub.Run(ctx) })

	el := d.elect(ctx, node, log)
	if el == nil {
		return
	}
	d.lead.el.Store(el)
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fleet.DefaultTimeout)
		defer cancel()
		// Closing resigns: the lock is deleted and another node leads
		// within a round trip instead of the TTL.
		if err := el.Close(cctx); err != nil {
			log.Warn("fleet: leaving the election", "err", err)
		}
		d.fleet.LeaderChanged()
	}()
	for {
		changed := el.Changed()
		if tctx, term, ok := el.Leading(); ok {
			d.fleet.LeaderChanged()
			d.runTerm(ctx, tctx, term, nc, every, log)
			d.fleet.LeaderChanged()
			if ctx.Err() != nil {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// elect joins the election, retrying while NATS cannot be reached; nil once
// ctx ends first.
func (d *Daemon) elect(ctx context.Context, node string, log *slog.Logger) *fleet.Election {
	for warned := false; ; warned = true {
		ectx, cancel := context.WithTimeout(ctx, fleet.DefaultTimeout)
		el, err := fleet.Elect(ectx, d.env.events.JetStream(), node, fleet.ElectionOptions{Logger: log, Replicas: d.env.events.Replicas()})
		cancel()
		if err == nil {
			return el
		}
		if !warned {
			log.Warn("fleet: cannot join the leader election yet; this node runs no controller until it does", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(electRetry):
		}
	}
}

// runTerm runs the controller for one term, until the term (tctx) or the
// daemon (ctx) ends. Its windows start at zero: the collector is opened
// with the term, and the controller forgets every baseline of an earlier
// term (SetSampler), so every step is judged on windows of this term only,
// its interval counted from the term's first tick.
func (d *Daemon) runTerm(ctx, tctx context.Context, term uint64, nc *nats.Conn, every time.Duration, log *slog.Logger) {
	run, cancel := context.WithCancel(tctx)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	log = log.With("term", term)
	var col *fleet.WindowCollector
	for {
		var err error
		if col, err = fleet.CollectWindows(nc, fleet.WindowCollectorOptions{}); err == nil {
			break
		}
		log.Warn("fleet: collecting gate windows", "err", err)
		select {
		case <-run.Done():
			return
		case <-time.After(electRetry):
		}
	}
	log.Info("fleet: this node runs the migration controller")
	d.ctrl.SetSampler(col)
	d.ctrl.SetMover(d.fleet.Fenced(term))
	d.ctrl.Run(run, every)
	d.ctrl.SetSampler(noSamples{})
	d.ctrl.SetMover(d.fleet)
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), fleet.DefaultTimeout)
	defer ccancel()
	if err := col.Close(cctx); err != nil {
		log.Warn("fleet: closing the gate windows", "err", err)
	}
	log.Info("fleet: this node stopped running the migration controller", "cause", context.Cause(tctx))
}

// runningRoutes lists the routes whose migration runs (shadow or canary,
// paused or not): the only ones whose gate windows a leader judges.
func (d *Daemon) runningRoutes() []string {
	var out []string
	for _, r := range d.table.Routes() {
		if r.Stage == strangler.StageShadow || r.Stage == strangler.StageCanary {
			out = append(out, r.Name)
		}
	}
	return out
}
