//go:build !noevents

package config

// eventsBuilt reports whether this binary has the events engine (NATS
// JetStream); a build with -tags noevents does not (events_notbuilt.go).
const eventsBuilt = true
