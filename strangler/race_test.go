//go:build race

package strangler

// raceEnabled skips allocation tests: the race detector's instrumentation allocates.
const raceEnabled = true
