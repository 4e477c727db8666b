// Package migrate moves the routes of a strangler.Table through their migration plans: it judges each step's gates
// on the router's numbers (Sample, Sampler, Histogram), promotes, rolls back or pauses through the same
// strangler.Table transitions people use (Controller), and keeps the progress across restarts (Store, Persister,
// ApplyState).
//
// The routing table itself (routes, stages, snapshots, the event history, the stage machine and strangler.Plan,
// which the stage machine reads for its steps) stays in package strangler: the request path needs the table and
// nothing of this package but the histograms it records into.
//
// # Persistence
//
// The stage, weight, step and pause flag of every route, and the newest events, are written to one JSON file in the
// state directory (StateFile) after every change, atomically and durably. ApplyState merges that progress into the
// routes of a configuration when the route's plan is unchanged (strangler.Plan.Hash); a corrupt file is set aside and
// routes with a plan start safe, paused.
package migrate
