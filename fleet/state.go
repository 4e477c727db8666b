//go:build !noevents

package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/strangler"
)

// Names in JetStream, and defaults of StateOptions, defined once.
const (
	// RoutesBucket is the KV bucket of route state: one key per route
	// (RouteKey), every write a compare-and-swap on the key's revision.
	RoutesBucket = "edged_routes"
	// NodesBucket is the KV bucket where each node registers itself (key =
	// node name); entries expire DefaultNodeTTL after their last write.
	NodesBucket = "edged_nodes"
	// EventsStream keeps the migration history of every route, one subject
	// per route (EventsSubject).
	EventsStream = "EDGED_ROUTE_EVENTS"
	// DefaultNodeTTL is how long a node stays listed after its last
	// heartbeat; it beats every third of it.
	DefaultNodeTTL = 15 * time.Second
	// DefaultTimeout bounds one round trip to JetStream (a read, a
	// compare-and-swap write).
	DefaultTimeout = 5 * time.Second
	// eventsPerRoute bounds the history kept per route in EventsStream.
	eventsPerRoute = 1000
	// maxCASAttempts bounds the retries of one Move against concurrent
	// writers; each retry means another writer won, so this is reached only
	// under a storm of changes to one route.
	maxCASAttempts = 64
	// eventsSubjectPrefix starts the subject of a route's events.
	eventsSubjectPrefix = "edged.route_events."
)

// EventsSubject returns the subject of a route's events in EventsStream.
func EventsSubject(route string) string {
	return eventsSubjectPrefix + RouteKey(route)[len(routeKeyPrefix):]
}

// StateOptions configures OpenState. Node and Table are required; zero
// values of the others are the documented defaults.
type StateOptions struct {
	// Node names this node in the fleet ([fleet] node).
	Node string
	// Table is the node's routing table: the fleet's route state is applied
	// to it, and it is the source of the one-time import.
	Table *strangler.Table
	// Plans returns the node's migration plans, whose hashes say whether a
	// stored state belongs to the plan this node runs; nil means no plans.
	Plans func() map[string]strangler.Plan
	// StateDir holds the last-known-good cache (CacheFile); "" keeps none.
	StateDir string
	// Replicas of the buckets and stream in a NATS cluster; 0 means 1.
	Replicas int
	// NodeTTL: see DefaultNodeTTL.
	NodeTTL time.Duration
	// Timeout: see DefaultTimeout.
	Timeout time.Duration
	// Leader reports whether this node runs the fleet's migration
	// controller, for the node registry; nil means never. Call
	// State.LeaderChanged when its answer changes.
	Leader func() bool
	// Logger receives what happens in the background; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *StateOptions) validate() error {
	var errs []error
	if err := CheckNode(o.Node); err != nil {
		errs = append(errs, fmt.Errorf("fleet: StateOptions.Node: %w", err))
	}
	if o.Table == nil {
		errs = append(errs, errors.New("fleet: StateOptions.Table is required"))
	}
	if o.NodeTTL < 0 || o.Timeout < 0 || o.Replicas < 0 {
		errs = append(errs, errors.New("fleet: NodeTTL, Timeout and Replicas must be >= 0"))
	}
	if o.Plans == nil {
		o.Plans = func() map[string]strangler.Plan { return nil }
	}
	if o.NodeTTL == 0 {
		o.NodeTTL = DefaultNodeTTL
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Leader == nil {
		o.Leader = func() bool { return false }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return errors.Join(errs...)
}

// State is a node's view of the fleet's route state: it applies the routes
// bucket to the node's table as it changes (a watch), makes this node's
// changes as compare-and-swap writes (Move, a strangler.Mover), keeps the
// last-known-good cache, and registers the node. Its methods are safe for
// concurrent use.
type State struct {
	o  StateOptions
	js jetstream.JetStream
	nc *nats.Conn

	applyMu sync.Mutex // serialises applying to the table (watch, Resync)

	mu       sync.Mutex
	kv       jetstream.KeyValue // nil until the bucket was reached
	nodes    jetstream.KeyValue
	seen     map[string]cachedRoute // key -> the newest state seen, applied or not
	skipped  map[string]string      // route -> why its state is not applied here
	rev      uint64                 // highest revision seen
	live     bool                   // connected and the watch caught up
	syncedAt time.Time              // when live last held (or the cache's Synced)
	opened   time.Time
	wake     chan struct{} // closed and replaced after every change of the above
	cacheErr error

	save     chan struct{} // a cache save is wanted (buffer 1)
	announce chan struct{} // a registration is wanted now (buffer 1): LeaderChanged
	stop     context.CancelFunc
	wg       sync.WaitGroup
	closed   sync.Once
}

var _ strangler.Mover = (*State)(nil)

// OpenState applies the last-known-good cache to the table, then follows the
// fleet's state in the background: it reaches the buckets (creating them),
// imports the table's state once if the bucket was never written, watches
// it, and comes back after every loss of the connection. OpenState does not
// wait for NATS: WaitSynced does. Close stops it.
func OpenState(js jetstream.JetStream, o StateOptions) (*State, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &State{
		o: o, js: js, nc: js.Conn(),
		seen: map[string]cachedRoute{}, skipped: map[string]string{},
		opened: o.Now(), wake: make(chan struct{}), save: make(chan struct{}, 1), announce: make(chan struct{}, 1),
	}
	if o.StateDir != "" {
		if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("fleet: state dir: %w", err)
		}
		s.loadCache()
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Go(func() { s.run(ctx) })
	s.wg.Go(func() { s.heartbeat(ctx) })
	if o.StateDir != "" {
		s.wg.Go(func() { s.saver(ctx) })
	}
	return s, nil
}

// loadCache applies the cache file to the table. A corrupt cache is set
// aside and kept as CacheError; the node then starts from its table.
func (s *State) loadCache() {
	c, err := loadCache(s.o.StateDir)
	if err != nil {
		s.cacheErr = err
		s.o.Logger.Error("fleet: last-known-good cache unusable", "err", err)
		return
	}
	for _, cr := range c.Routes {
		why := s.applyToTable(cr.State, "fleet_cache", true)
		s.seen[cr.Key] = cr
		if why != "" {
			s.skipped[cr.State.Name] = why
		}
	}
	s.rev, s.syncedAt = c.Revision, c.Synced
}

// CacheError is the error of reading the last-known-good cache at
// OpenState (matching ErrCorruptCache when the file was corrupt and set
// aside), or nil.
func (s *State) CacheError() error { return s.cacheErr }

// WaitSynced blocks until the node's state is the fleet's (connected, the
// watch caught up) or ctx ends.
func (s *State) WaitSynced(ctx context.Context) error {
	for {
		s.mu.Lock()
		live, wake := s.live, s.wake
		s.mu.Unlock()
		if live {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fleet: not synced with %s: %w", RoutesBucket, ctx.Err())
		case <-wake:
		}
	}
}

// Age is how old the node's state may be: 0 while it follows the bucket
// live, else the time since it last did (since OpenState for a node that
// never did and had no cache). It is edged_fleet_state_age_seconds.
func (s *State) Age() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live {
		return 0
	}
	since := s.syncedAt
	if since.IsZero() {
		since = s.opened
	}
	return max(s.o.Now().Sub(since), 0)
}

// Live reports whether the node follows the bucket: connected, the watch
// caught up. While it does not, Move refuses and Age grows.
func (s *State) Live() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// Changed returns a channel closed at the next change of what State reports
// (a state seen, Live turning, a Resync), for waiters that must not poll.
func (s *State) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

// Revision is the highest revision of the routes bucket this node has seen.
func (s *State) Revision() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev
}

// changed wakes the waiters; called with s.mu held.
func (s *State) changed() {
	close(s.wake)
	s.wake = make(chan struct{})
}

func (s *State) setLive(live bool) {
	s.mu.Lock()
	if s.live != live {
		s.live = live
		s.syncedAt = s.o.Now()
		s.changed()
	}
	s.mu.Unlock()
	if live {
		s.wantSave()
	}
}

// planHash is the hash of the node's plan for r, "" without one.
func (s *State) planHash(r strangler.Route) string {
	if p, ok := s.o.Plans()[r.Name]; ok {
		return p.Hash(r)
	}
	return ""
}

// applyToTable sets st on the node's route. It returns "" when the route
// holds st afterwards, else why st does not apply here. The event recorded
// is st's own change (kind "" means st's Kind); with quiet, a route that
// already holds st records nothing.
func (s *State) applyToTable(st RouteState, kind string, quiet bool) string {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	r, ok := s.o.Table.Route(st.Name)
	if !ok {
		return "the route is not in this node's configuration"
	}
	if h := s.planHash(r); h != st.Plan {
		return fmt.Sprintf("the fleet's state is for plan %q, this node runs plan %q (router.toml differs)", st.Plan, h)
	}
	if quiet && st.same(r) {
		return ""
	}
	if kind == "" {
		kind = st.Kind
	}
	ev := strangler.Event{Kind: kind, Actor: st.Actor, Reason: st.Reason}
	if _, err := s.o.Table.Update(st.Name, ev, func(r *strangler.Route) error { st.set(r); return nil }); err != nil {
		return "apply: " + err.Error()
	}
	return ""
}

// Resync applies every state seen to the table again: after a reload
// replaced the table's routes, or a plan changed.
func (s *State) Resync() {
	s.mu.Lock()
	all := make([]cachedRoute, 0, len(s.seen))
	for _, cr := range s.seen {
		all = append(all, cr)
	}
	s.mu.Unlock()
	skipped := map[string]string{}
	for _, cr := range all {
		if why := s.applyToTable(cr.State, "fleet_sync", true); why != "" {
			skipped[cr.State.Name] = why
		}
	}
	s.mu.Lock()
	s.skipped = skipped
	s.changed()
	s.mu.Unlock()
}

// wantSave asks the saver for a cache save, coalescing requests.
func (s *State) wantSave() {
	select {
	case s.save <- struct{}{}:
	default:
	}
}

// saver writes the cache after changes until ctx ends, then once more.
func (s *State) saver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			s.saveCache()
			return
		case <-s.save:
			s.saveCache()
		}
	}
}

func (s *State) saveCache() {
	s.mu.Lock()
	c := cache{Node: s.o.Node, Synced: s.syncedAt, Revision: s.rev, Routes: make([]cachedRoute, 0, len(s.seen))}
	if s.live {
		c.Synced = s.o.Now()
	}
	for _, cr := range s.seen {
		c.Routes = append(c.Routes, cr)
	}
	s.mu.Unlock()
	if err := saveCache(s.o.StateDir, c); err != nil {
		s.o.Logger.Error("fleet: saving the last-known-good cache", "err", err)
	}
}

// Close stops following the bucket, saves the cache a last time and removes
// the node from the registry (best effort, within ctx). It is safe to call
// twice.
func (s *State) Close(ctx context.Context) error {
	s.closed.Do(func() {
		s.stop()
		s.wg.Wait()
		s.mu.Lock()
		nodes := s.nodes
		s.mu.Unlock()
		if nodes != nil && s.nc.Status() == nats.CONNECTED {
			ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
			defer cancel()
			_ = nodes.Delete(ctx, s.o.Node)
		}
	})
	return nil
}

// encode is json.Marshal for our own values, which always encode.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("fleet: encode %T: %v", v, err))
	}
	return b
}
