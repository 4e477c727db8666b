// Package strangler is edged's routing table: the routes that map a host and path prefix to a legacy upstream and a
// WebAssembly function, where each route stands in its migration from one to the other (legacy, shadow, canary,
// isolate, retired), and the append-only history of how it got there.
//
// # Design
//
// Writes and reads have different needs, so they take different paths.
//
// Writes are rare (a config reload, an operator's promote, the migration controller's next step) and must be
// atomic: a stage and a weight that belong together change together, and every change leaves an Event. They go
// through github.com/hashicorp/go-memdb, which is the source of truth: a "routes" table indexed by name and an
// "events" table indexed by sequence number, one write transaction per change (Table.Replace, Table.Update,
// Table.Record), serialised by the Table's mutex. memdb's types never leave this package: callers see Route,
// Event and Snapshot values only.
//
// Reads are per request and must neither lock nor allocate. After each committed write the Table compiles an
// immutable Snapshot and publishes it with an atomic pointer swap; a request loads the pointer once and matches
// against that snapshot, so it sees the table before a change or after it, never in between. A snapshot's matcher
// is a map from lower-cased host to a trie of path segments (plus a map of wildcard suffixes and a trie for routes
// without a host); Lookup walks the trie once, remembering the deepest prefix that has a route for the method.
// Byte slices are looked up in the maps with m[string(b)], which the compiler does not allocate for. An Update
// changes only fields that take no part in matching (Stage, Weight, Step, Paused), so it reuses the compiled
// matcher and only copies the slice of route pointers.
//
// The event history is bounded (Options.MaxEvents, 10000 by default); persisting it and the migration state is the
// caller's job, with Table.Events and Table.RestoreEvents (package strangler/migrate does it, and runs the plans). Table.Watch gives a channel closed on the next change, in
// the style of memdb's watch channels, for the admin dashboard and the migration controller.
package strangler
