//go:build noevents

package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/fleet"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/strangler"
)

// A build without events has no NATS connection for a fleet to share state
// over: [fleet] state = "nats" needs [events], which internal/config refuses
// in this build (config.ErrEventsNotBuilt), so d.fleet stays nil.

// fleetState stands for the fleet's route state; never created.
type fleetState struct{}

// Resync has nothing to resync.
func (*fleetState) Resync() {}

// fleetLeader stands for a node's candidacy to lead a fleet; never used.
type fleetLeader struct{}

// runFleetController is never called: d.fleet stays nil.
func (d *Daemon) runFleetController(context.Context, string, time.Duration) {}

// fleetNode is never called without a fleet.
func fleetNode(*config.Config) string { return "" }

// startFleet refuses state = "nats", should a file get this far.
func (d *Daemon) startFleet(_ context.Context, cfg *config.Config) error {
	if cfg.Fleet.State == fleet.StateNATS {
		return fmt.Errorf("fleet: state = %q: %w", fleet.StateNATS, config.ErrEventsNotBuilt)
	}
	return nil
}

// currentPlans returns the installed generation's plans.
func (d *Daemon) currentPlans() map[string]strangler.Plan {
	if p := d.plansNow.Load(); p != nil {
		return *p
	}
	return nil
}

// mover is the table: a node alone moves its own routes.
func (d *Daemon) mover() strangler.Mover { return d.table }

// fleetView: no fleet, the admin API answers 501.
func (d *Daemon) fleetView() admin.Fleet { return nil }
