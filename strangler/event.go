package strangler

import "time"

// Event is one entry in a Table's migration history: a stage or weight change, a pause, a reload, a failed gate.
// Events are values; the history is append-only, ordered by Seq, and bounded (see Options.MaxEvents).
type Event struct {
	// Seq numbers events from 1, strictly increasing within a Table (also across RestoreEvents). Assigned by the Table.
	Seq uint64
	// Time is when the Table recorded the event (Options.Now). Assigned by the Table.
	Time time.Time
	// Route names the route the event is about; "" for table-wide events such as a reload.
	Route string
	// Kind says what happened: one of the Kind constants, or another short snake_case word.
	Kind string
	// From and To are the route's stage before and after; equal when the stage did not change.
	From, To Stage
	// Weight and Step are the route's canary weight and migration step after the event.
	Weight int
	Step   int
	// Actor says who caused the event: "admin:TOKEN_NAME", ActorController or ActorConfig.
	Actor string
	// Reason is free text for people: the gate that failed, the operator's note.
	Reason string
}

// Event kinds used by edged. Callers may record others.
const (
	KindPromote    = "promote"
	KindRollback   = "rollback"
	KindPause      = "pause"
	KindResume     = "resume"
	KindSetWeight  = "set_weight"
	KindSetStage   = "set_stage"
	KindReload     = "reload"
	KindGateFailed = "gate_failed"
	// KindUpdate is what Table.Update records when the caller's Event has no Kind.
	KindUpdate = "update"
)

// Actors used by edged itself; admin API actions use "admin:" followed by the token's name.
const (
	ActorController = "controller"
	ActorConfig     = "config"
)

// DefaultMaxEvents is how many events a Table keeps in memory when Options.MaxEvents is zero.
const DefaultMaxEvents = 10000
