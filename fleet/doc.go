// Package fleet lets many edged nodes act as one over NATS JetStream: one
// elected migration controller, judging gates on every node's traffic.
// docs/fleet-windows.md has the details and the measurements.
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
