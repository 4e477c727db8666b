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
// The controller runs on one node, the leader; its decisions are moves like a person's, made through
// State.Fenced with the leader's term: the term is stored on the route, and a write of a term below the one
// stored (a deposed leader's) is refused with a *FencedError.
//
// The election and the gate windows are described in docs/fleet-windows.md.
//
// # Leader election
//
// Elect joins the election for a KV lock (bucket edged_leader, key
// controller) that the server expires TTL (3 s) after its last write. The
// holder renews it every TTL/3 and acts only for 2×TTL/3 after the send time
// of its last acknowledged renewal, so it stops TTL/3 before anyone else can
// take the lock, whatever the nodes' wall clocks say. Election.Leading gives
// a context cancelled the moment a term ends and the term number, the
// revision of the write that took the lock, which writes carry for fencing.
//
// # Gate windows
//
// Every node publishes, each second, what changed on each route since its
// last window (WindowPublisher, subject edged.fleet.windows.<node>, a compact
// binary encoding of changed routes only); the leader adds every node's
// windows into fleet-wide readings (WindowCollector, a strangler.Sampler for
// its strangler.Controller) and drops nodes silent for more than 3 s. A busy
// route costs about 49 bytes a second: 10, 1,000 and 10,000 busy routes cost
// a node about 0.5 KB/s, 49.5 KB/s and 495 KB/s.
package fleet
