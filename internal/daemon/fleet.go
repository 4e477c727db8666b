//go:build !noevents

package daemon

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/events"
	"github.com/edged/edged/fleet"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/strangler"
)

// fleetStartWait bounds how long the start waits for the fleet's state: a
// node that cannot reach NATS by then serves its last-known-good state and
// catches up in the background.
const fleetStartWait = 5 * time.Second

// startFleet, with [fleet] state = "nats", follows the fleet's route state
// over the [events] connection: the table gets the last-known-good cache at
// once and the bucket's state as soon as it is reached (the first node of a
// fleet imports its own). Route actions and the controller's decisions then
// go through the fleet (d.mover). Called by startRouting once the table and
// server exist.
func (d *Daemon) startFleet(ctx context.Context, cfg *config.Config) error {
	if cfg.Fleet.State != fleet.StateNATS {
		return nil
	}
	if d.env.events == nil {
		return fmt.Errorf("fleet: state = %q needs the [events] connection", fleet.StateNATS)
	}
	log := d.o.Logger.With("component", "fleet")
	st, err := fleet.OpenState(d.env.events.JetStream(), fleet.StateOptions{
		Node:     fleetNode(cfg),
		Table:    d.table,
		Plans:    d.currentPlans,
		StateDir: cfg.Runtime.StateDir,
		Leader:   d.lead.leads,
		Replicas: d.env.events.Replicas(),
		Logger:   log,
	})
	if err != nil {
		return err
	}
	d.stack.push(func() { _ = st.Close(context.Background()) })
	wait := fleetStartWait
	if d.env.events.Replicas() > 1 {
		// The engine is up, so its cluster has a majority; but each bucket
		// of several replicas is usable only once its own group has elected
		// a leader, seconds each on a cluster that has just formed. A node
		// waits for them as the engine waited for the cluster, rather than
		// start refusing changes.
		wait = cmp.Or(eventsOptions(cfg).ReadyTimeout, events.DefaultReadyTimeout)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := st.WaitSynced(wctx); err != nil {
		log.Warn("fleet: starting on the last-known-good state; changes are refused until NATS is reached", "err", err)
	}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edged_fleet_state_age_seconds",
		Help: "How old this node's route state may be: 0 while it follows the fleet's state in NATS, else the time since it last did.",
	}, func() float64 { return st.Age().Seconds() })
	if err := d.server.Registerer().Register(age); err != nil {
		return fmt.Errorf("fleet: metrics: %w", err)
	}
	d.fleet = st
	return nil
}

// currentPlans returns the installed generation's plans without taking d.mu,
// which a reload holds while it builds: the fleet's watch asks for them on
// every change it applies.
func (d *Daemon) currentPlans() map[string]strangler.Plan {
	if p := d.plansNow.Load(); p != nil {
		return *p
	}
	return nil
}

// fleetState is the fleet's route state of a node in a fleet.
type fleetState = fleet.State

// mover is what moves routes: the fleet with state = "nats", else the table.
func (d *Daemon) mover() strangler.Mover {
	if d.fleet != nil {
		return d.fleet
	}
	return d.table
}

// fleetView is the admin API's view of the fleet; nil on a node alone.
func (d *Daemon) fleetView() admin.Fleet {
	if d.fleet != nil {
		return d.fleet
	}
	return nil
}
