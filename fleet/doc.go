// Package fleet lets many edged nodes act as one: an elected controller and
// the gate windows it judges on, over NATS JetStream (see docs/fleet-windows.md).
//
// # Leader election
//
// Elect joins an election for a KV lock that the server expires TTL after its
// last write; see Election for the lease arithmetic that keeps two leaders
// from acting at once, and Election.Term for fencing.
//
// # Gate windows
//
// Every node publishes its per-route gate windows each second
// (WindowPublisher); the leader sums the windows of every live node into a
// fleet-wide strangler.Sampler (WindowCollector).
package fleet
