package config

import (
	"github.com/edged/edged/fleet"
)

// Fleet is [fleet]: where the node keeps its route state (docs/fleet.md).
// Every key has a default: no table means one node with its state in
// runtime.state_dir, as before fleets.
type Fleet struct {
	// State is "file" (the default, fleet.StateFile: migrations.json in
	// runtime.state_dir) or "nats" (fleet.StateNATS: the edged_routes
	// bucket of the [events] connection, shared by every node).
	State string `toml:"state"`
	// Node names this node in the fleet. Empty (the default) means
	// fleet.DefaultNode(), the host name, resolved when the daemon starts
	// rather than here, so a decoded file does not depend on the machine
	// that decoded it.
	Node string `toml:"node"`
}

func defaultFleet(c *Config, set map[string]bool) {
	if !set["fleet.state"] {
		c.Fleet.State = fleet.DefaultState
	}
}

func validateFleet(p *problems, c *Config) {
	switch c.Fleet.State {
	case fleet.StateFile:
	case fleet.StateNATS:
		if c.Events == nil {
			p.add("fleet.state", "%q keeps the route state in NATS through the [events] connection: add an [events] table (empty starts the embedded server, url = \"nats://...\" joins a cluster)", fleet.StateNATS)
		}
	default:
		p.add("fleet.state", "%q is not %q or %q", c.Fleet.State, fleet.StateFile, fleet.StateNATS)
	}
	if c.Fleet.Node != "" {
		if err := fleet.CheckNode(c.Fleet.Node); err != nil {
			p.add("fleet.node", "%w", err)
		}
	}
}
