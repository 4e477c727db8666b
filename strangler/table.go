package strangler

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// ErrNotFound is returned (wrapped) by Table.Update for a route name the table does not hold.
var ErrNotFound = errors.New("route not found")

// Options tunes a Table. The zero value gives the defaults.
type Options struct {
	// MaxEvents bounds the in-memory event history: only the newest MaxEvents events are kept. 0 means
	// DefaultMaxEvents (10000); negative values are treated as 0.
	MaxEvents int
	// Now stamps events; nil means time.Now. Tests set it for reproducible output.
	Now func() time.Time
}

// Table is the routing table: the set of routes, their migration state and the event history.
//
// Writes (Replace, Update, Record, RestoreEvents) go through a go-memdb write transaction, one at a time; after
// each commit the Table publishes a new immutable Snapshot with an atomic pointer swap. Readers (Snapshot, Route,
// Routes, Events, Watch) never block on writers and never see a half-applied change. A Table is safe for
// concurrent use; create it with NewTable or NewTableOptions.
type Table struct {
	// mu serialises writers. memdb has its own writer lock, but ours also covers the counters below, so that the
	// order of commits, versions and snapshot swaps is one order.
	mu        sync.Mutex
	db        *memdb.MemDB
	snap      atomic.Pointer[Snapshot]
	watch     atomic.Pointer[chan struct{}]
	changes   atomic.Uint64 // counts notify calls: every change of routes or events
	maxEvents int
	now       func() time.Time

	// Guarded by mu.
	version uint64 // of the current snapshot
	seq     uint64 // highest event Seq assigned or restored
	events  int    // events held in memdb
}

// NewTable returns a Table holding routes, with default Options. See NewTableOptions.
func NewTable(routes []Route) (*Table, error) {
	return NewTableOptions(routes, Options{})
}

// NewTableOptions returns a Table holding a copy of routes, at snapshot Version 1 with an empty event history.
// It validates every route and the set as a whole (unique names, no two routes that match the same requests at
// the same priority) and returns every problem at once, joined with errors.Join; each is a *RouteError that
// matches ErrInvalidRoute.
func NewTableOptions(routes []Route, opts Options) (*Table, error) {
	if err := validateSet(routes); err != nil {
		return nil, err
	}
	db, err := memdb.NewMemDB(newSchema())
	if err != nil {
		return nil, fmt.Errorf("new routing table: %w", err) // only if the schema were wrong
	}
	t := &Table{db: db, maxEvents: cmp.Or(max(opts.MaxEvents, 0), DefaultMaxEvents), now: opts.Now}
	if t.now == nil {
		t.now = time.Now
	}
	ch := make(chan struct{})
	t.watch.Store(&ch)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.replace(routes, nil, nil); err != nil {
		return nil, err
	}
	return t, nil
}

// Snapshot returns the current snapshot. It never blocks and does not allocate.
func (t *Table) Snapshot() *Snapshot { return t.snap.Load() }

// Route returns a copy of the route called name from the current snapshot.
func (t *Table) Route(name string) (Route, bool) {
	r, ok := t.Snapshot().Route(name)
	if !ok {
		return Route{}, false
	}
	return r.clone(), true
}

// Routes returns copies of the current routes, sorted by name.
func (t *Table) Routes() []Route { return t.Snapshot().Routes() }

// Watch returns a channel that is closed at the next change to the table: a Replace, an Update, a Record or a
// RestoreEvents. Take a new channel after each wake-up, then read the state, so that no change is missed.
func (t *Table) Watch() <-chan struct{} { return *t.watch.Load() }

// Changes counts the changes made to the table so far (routes or events). A
// Persister reports which count it has saved.
func (t *Table) Changes() uint64 { return t.changes.Load() }

// notify wakes the current watchers and arms a new channel. Called with mu held, after the new state is visible.
func (t *Table) notify() {
	t.changes.Add(1)
	ch := make(chan struct{})
	close(*t.watch.Swap(&ch))
}

// Replace swaps in a whole new route set, as a configuration reload does, and records a KindReload event with
// ActorConfig. The routes are validated as by NewTable; on error the table is unchanged. Migration state is taken
// from routes as given: a caller that wants to keep runtime stages across a reload copies them in first.
// The snapshot keeps the current Targets.
func (t *Table) Replace(routes []Route) error {
	if err := validateSet(routes); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.replace(routes, t.targets(), &Event{Kind: KindReload, Actor: ActorConfig, Reason: fmt.Sprintf("%d routes", len(routes))})
}

// ReplaceTargets is Replace that also sets the snapshot's Targets to targets, so that readers see the new routes
// and the targets they name in one atomic step. It returns the Targets it replaced; on error nothing changes.
func (t *Table) ReplaceTargets(routes []Route, targets any) (old any, err error) {
	if err := validateSet(routes); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old = t.targets()
	ev := &Event{Kind: KindReload, Actor: ActorConfig, Reason: fmt.Sprintf("%d routes", len(routes))}
	if err := t.replace(routes, targets, ev); err != nil {
		return nil, err
	}
	return old, nil
}

// SetTargets publishes a snapshot with the current routes, at the same Version, and targets as its Targets. It
// records no event and wakes no watcher: the routes did not change. It returns the Targets it replaced.
func (t *Table) SetTargets(targets any) (old any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.Snapshot()
	next := *cur
	next.targets = targets
	t.snap.Store(&next)
	return cur.targets
}

// targets returns the current snapshot's Targets; nil before the first snapshot.
func (t *Table) targets() any {
	if s := t.Snapshot(); s != nil {
		return s.targets
	}
	return nil
}

// replace writes routes (already validated) and ev (if not nil) in one transaction and publishes the snapshot
// with targets.
func (t *Table) replace(routes []Route, targets any, ev *Event) error {
	snap := newSnapshot(t.version+1, routes)
	snap.targets = targets
	txn := t.db.Txn(true)
	defer txn.Abort()
	if _, err := txn.DeleteAll(tableRoutes, indexID+"_prefix", ""); err != nil {
		return fmt.Errorf("replace routes: %w", err)
	}
	// memdb and the snapshot share the *Route values: both treat them as immutable.
	for _, r := range snap.routes {
		if err := txn.Insert(tableRoutes, r); err != nil {
			return fmt.Errorf("replace route %q: %w", r.Name, err)
		}
	}
	var c commit
	if ev != nil {
		var err error
		if c, err = t.appendEvent(txn, ev); err != nil {
			return err
		}
	} else {
		c = commit{seq: t.seq, events: t.events}
	}
	txn.Commit()
	t.version = snap.version
	t.seq, t.events = c.seq, c.events
	t.snap.Store(snap)
	t.notify()
	return nil
}

// Update changes one route's migration state inside a single memdb write transaction, records an event and
// publishes a new snapshot; readers see the old route or the new one, never a mix.
//
// fn gets a copy of the route and may change Stage, Weight, Step and Paused; changing any other field, or leaving
// the route invalid (a weight outside 0..100, a stage that needs a Function the route lacks), is an error matching
// ErrInvalidRoute. An error returned by fn is returned wrapped; for a name the table does not hold the error
// matches ErrNotFound. On any error nothing changes and no event is recorded.
//
// ev describes the change (Kind, Actor, Reason); Update fills in Seq, Time, Route, From, To, Weight and Step, and
// uses KindUpdate if Kind is "". The event is recorded even if fn changed nothing, so that an action such as a
// failed gate leaves a trace; the snapshot version then stays the same. Update returns the route as stored.
// fn runs with the table's write lock held: it must not call back into the Table.
func (t *Table) Update(name string, ev Event, fn func(r *Route) error) (Route, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	txn := t.db.Txn(true)
	defer txn.Abort()
	raw, err := txn.First(tableRoutes, indexID, name)
	if err != nil {
		return Route{}, fmt.Errorf("update %q: %w", name, err)
	}
	if raw == nil {
		return Route{}, fmt.Errorf("update %q: %w", name, ErrNotFound)
	}
	old := raw.(*Route)
	r := old.clone()
	if err := fn(&r); err != nil {
		return Route{}, fmt.Errorf("update %q: %w", name, err)
	}
	if !sameIdentity(old, &r) {
		return Route{}, &RouteError{Index: -1, Name: name, Field: "update",
			Msg: "only stage, weight, step and paused may change"}
	}
	if errs := validateRoute(nil, -1, &r); len(errs) > 0 {
		return Route{}, errors.Join(errs...)
	}
	changed := r.Stage != old.Stage || r.Weight != old.Weight || r.Step != old.Step || r.Paused != old.Paused
	// Store a copy: fn might have kept the pointer it was given.
	stored := r.clone()
	if changed {
		if err := txn.Insert(tableRoutes, &stored); err != nil {
			return Route{}, fmt.Errorf("update %q: %w", name, err)
		}
	}
	ev.Route, ev.From, ev.To, ev.Weight, ev.Step = name, old.Stage, r.Stage, r.Weight, r.Step
	if ev.Kind == "" {
		ev.Kind = KindUpdate
	}
	c, err := t.appendEvent(txn, &ev)
	if err != nil {
		return Route{}, err
	}
	txn.Commit()
	t.seq, t.events = c.seq, c.events
	if changed {
		t.version++
		t.snap.Store(t.Snapshot().withRoute(t.version, &stored))
	}
	t.notify()
	return stored.clone(), nil
}

// Record appends ev to the history without changing a route, assigning its Seq and Time, and returns it as stored.
func (t *Table) Record(ev Event) Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	txn := t.db.Txn(true)
	defer txn.Abort()
	c, err := t.appendEvent(txn, &ev)
	if err != nil {
		// Inserting a plain struct into our own schema cannot fail; if it ever does, the event is lost, not the table.
		return ev
	}
	txn.Commit()
	t.seq, t.events = c.seq, c.events
	t.notify()
	return ev
}

// commit carries counter values that become true only if the transaction commits.
type commit struct {
	seq    uint64
	events int
}

// appendEvent assigns ev its Seq and Time, inserts it and drops the oldest events beyond maxEvents.
func (t *Table) appendEvent(txn *memdb.Txn, ev *Event) (commit, error) {
	ev.Seq = t.seq + 1
	ev.Time = t.now()
	stored := *ev
	if err := txn.Insert(tableEvents, &stored); err != nil {
		return commit{}, fmt.Errorf("record event: %w", err)
	}
	n, err := t.trim(txn, t.events+1)
	return commit{seq: ev.Seq, events: n}, err
}

// trim deletes the oldest events until at most maxEvents of the n held remain, and returns how many remain.
func (t *Table) trim(txn *memdb.Txn, n int) (int, error) {
	for ; n > t.maxEvents; n-- {
		oldest, err := txn.First(tableEvents, indexID)
		if err != nil || oldest == nil {
			return n, fmt.Errorf("trim events: %w", cmp.Or(err, errors.New("count out of step")))
		}
		if err := txn.Delete(tableEvents, oldest); err != nil {
			return n, fmt.Errorf("trim events: %w", err)
		}
	}
	return n, nil
}

// Events returns up to limit events with Seq > sinceSeq, in ascending Seq order; limit <= 0 means no limit.
// Pass the last Seq seen to page forward. It reads a memdb snapshot and does not block writers.
func (t *Table) Events(sinceSeq uint64, limit int) []Event {
	if sinceSeq == math.MaxUint64 {
		return nil
	}
	it, err := t.db.Txn(false).LowerBound(tableEvents, indexID, sinceSeq+1)
	if err != nil {
		return nil // cannot happen with our schema and a uint64 argument
	}
	var out []Event
	for raw := it.Next(); raw != nil && (limit <= 0 || len(out) < limit); raw = it.Next() {
		out = append(out, *raw.(*Event))
	}
	return out
}

// LatestEvents returns the newest limit events (all of them if limit <= 0), in ascending Seq order.
func (t *Table) LatestEvents(limit int) []Event {
	it, err := t.db.Txn(false).GetReverse(tableEvents, indexID)
	if err != nil {
		return nil
	}
	var out []Event
	for raw := it.Next(); raw != nil && (limit <= 0 || len(out) < limit); raw = it.Next() {
		out = append(out, *raw.(*Event))
	}
	slices.Reverse(out)
	return out
}

// RestoreEvents loads persisted history, typically once at start before any other event is recorded. Events keep
// their Seq and Time; an event with Seq 0 is given the next free Seq; an event with the Seq of one already held
// replaces it. Only the newest Options.MaxEvents are kept, and the next Seq assigned is higher than every Seq
// restored.
func (t *Table) RestoreEvents(evs []Event) {
	if len(evs) == 0 {
		return
	}
	evs = slices.Clone(evs)
	slices.SortStableFunc(evs, func(a, b Event) int { return cmp.Compare(a.Seq, b.Seq) })
	t.mu.Lock()
	defer t.mu.Unlock()
	txn := t.db.Txn(true)
	defer txn.Abort()
	seq, n := t.seq, t.events
	for i := range evs {
		ev := evs[i]
		if ev.Seq == 0 {
			continue // numbered below, after the highest restored Seq
		}
		seq = max(seq, ev.Seq)
		if old, _ := txn.First(tableEvents, indexID, ev.Seq); old == nil {
			n++
		}
		if err := txn.Insert(tableEvents, &ev); err != nil {
			return
		}
	}
	for i := range evs {
		if ev := evs[i]; ev.Seq == 0 {
			seq++
			ev.Seq = seq
			n++
			if err := txn.Insert(tableEvents, &ev); err != nil {
				return
			}
		}
	}
	n, err := t.trim(txn, n)
	if err != nil {
		return
	}
	txn.Commit()
	t.seq, t.events = seq, n
	t.notify()
}
