//go:build race

package auth

// raceEnabled: the race detector makes sync.Pool drop objects at random and
// instruments allocations, so allocation bounds are only asserted without it.
const raceEnabled = true
