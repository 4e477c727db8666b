package fleetrate

import (
	"time"

	"github.com/edged/edged/limits"
)

// The options and their bounds, without NATS: internal/config validates them
// in a build with -tags noevents too.

// Defaults and bounds of the sync interval, defined once.
const (
	// DefaultSyncInterval is how often a node publishes its spending. The
	// overshoot grows with R times it; the messages with its inverse.
	DefaultSyncInterval = 200 * time.Millisecond
	MinSyncInterval     = 10 * time.Millisecond
	MaxSyncInterval     = 10 * time.Second
)

// Options configures NewLimiter.
type Options struct {
	// Route names the limit fleet-wide: nodes share the spending of limiters
	// with the same Route. Letters, digits, '-' and '_'. Required.
	Route string
	// Rate, Burst and MaxKeys are as in limits.LimiterOptions: the fleet's
	// rate and burst per client, and the keys tracked on this node.
	Rate    limits.Rate
	Burst   int
	MaxKeys int
	// SyncInterval is how often this node publishes its spending (see the
	// package's error bound). 0 means DefaultSyncInterval; else from
	// MinSyncInterval to MaxSyncInterval.
	SyncInterval time.Duration
	// Now is the clock, as in limits.LimiterOptions; nil means time.Now.
	Now func() time.Time

	// manual turns the sync loop off: tests call Sync themselves.
	manual bool
	// heard, when set, is sent a value after each increment from another
	// node has been applied, for tests.
	heard chan<- struct{}
}
