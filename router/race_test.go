//go:build race

package router

// raceEnabled: the race detector makes sync.Pool drop objects at random, so allocation
// bounds are only asserted without it.
const raceEnabled = true
