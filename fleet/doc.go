// Package fleet lets many edged nodes share one routing state over NATS JetStream (see docs/fleet.md).
//
// # Route state
//
// A route's progress (stage, weight, step, paused, plan hash, generation) is one key of the KV bucket
// RoutesBucket (RouteKey names it). State follows the bucket with a watch and applies every change to the node's
// strangler.Table, so a change reaches every node in milliseconds; the request path keeps reading the table's
// snapshot and pays nothing for the fleet. State.Move is a strangler.Mover: the admin API and the migration
// controller change a route by applying the same strangler.Transition to the stored state and writing it back
// with a compare-and-swap on the revision read (kv.Create for a route never stored), retrying from the winner's
// state when another node wrote first, so concurrent changes are serialised and none is lost. The controller's
// moves carry strangler.Transition.Expect, so a decision made on an old state is dropped, not applied twice.
//
// The first node that finds the bucket empty imports its own state (its migrations.json as applied to its
// routes), once for the fleet: it must win a kv.Create of a marker key first. Every change is also appended to
// the stream EventsStream (one subject per route, deduplicated by key and revision), so a route's history
// is the fleet's (State.History).
//
// # When NATS is gone
//
// Every state a node applied is cached on disk (CacheFile in the state directory). A node that starts, or
// loses its connection, serves that last-known-good state, refuses changes with an error matching
// strangler.ErrUnavailable, reports how old its state may be (State.Age, edged_fleet_state_age_seconds), and
// catches up when nats.go has reconnected: it watches the bucket again from its current values and applies
// what changed meanwhile.
//
// # Nodes
//
// Each node registers itself in NodesBucket (entries expire after NodeTTL): the revision it applied, whether it
// follows the bucket live, whether it leads, and the routes whose state it does not apply because its
// router.toml differs. State.Status reads them all and lists where nodes disagree.
//
// The controller runs on one node, the leader (leader election and fleet-wide gate windows live in this
// package too, in election*.go and windows*.go); its decisions are State.Move calls like a person's.
package fleet
