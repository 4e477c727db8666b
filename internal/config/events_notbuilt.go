//go:build noevents

package config

// eventsBuilt is false in a build with -tags noevents: it has no events
// engine, so a file that needs one is refused (ErrEventsNotBuilt).
const eventsBuilt = false
