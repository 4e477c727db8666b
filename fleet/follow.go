//go:build !noevents

package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Retry bounds of the follow loop after a lost connection or a failed
// session: short at first, so a node catches up soon after NATS is back
// (nats.go reconnects on its own; the loop also wakes on its CONNECTED).
const (
	retryMin = 50 * time.Millisecond
	retryMax = 2 * time.Second
)

var errDisconnected = errors.New("fleet: connection to NATS lost")

// run follows the bucket until ctx ends: one session per connection.
func (s *State) run(ctx context.Context) {
	status := s.nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	defer s.nc.RemoveStatusListener(status)
	wait := retryMin
	var last string
	for ctx.Err() == nil {
		s.mu.Lock()
		synced := s.syncedAt
		s.mu.Unlock()
		err := s.session(ctx, status)
		s.setLive(false)
		s.mu.Lock()
		if s.syncedAt != synced {
			wait = retryMin // the session had caught up: retry soon after a loss
		}
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if msg := err.Error(); msg != last {
			s.o.Logger.Warn("fleet: not following the route state; serving the last-known-good state", "err", err)
			last = msg
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-status:
		}
		t.Stop()
		wait = min(2*wait, retryMax)
	}
}

// session reaches the buckets, imports once, and applies the watch until the
// connection is lost or ctx ends. It returns why it ended.
func (s *State) session(ctx context.Context, status <-chan nats.Status) error {
	if st := s.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("%w (%s)", errDisconnected, st)
	}
	kv, err := s.buckets(ctx)
	if err != nil {
		return err
	}
	if err := s.importOnce(ctx, kv); err != nil {
		return fmt.Errorf("fleet: import: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := kv.Watch(wctx, routeKeyPrefix+"*")
	if err != nil {
		return fmt.Errorf("fleet: watch %s: %w", RoutesBucket, err)
	}
	// Stopping a watch deletes its consumer with a request to the server,
	// which waits out the request timeout when the connection is gone: the
	// State's wait group owns it, so the node turns not-live and retries now.
	defer s.wg.Go(func() { _ = w.Stop() })
	initial := true
	var newest uint64 // the highest revision among the initial values
	for {
		select {
		case <-ctx.Done():
			return nil
		case st := <-status:
			if st != nats.CONNECTED {
				s.setLive(false)
				return fmt.Errorf("%w (%s)", errDisconnected, st)
			}
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return fmt.Errorf("fleet: watch of %s ended", RoutesBucket)
			case e == nil: // every value there was at the start is in
				initial = false
				if newest > 0 {
					s.mu.Lock()
					s.rev = newest // also right for a bucket that started over
					s.mu.Unlock()
				}
				s.setLive(true)
			default:
				if initial {
					newest = max(newest, e.Revision())
				}
				s.apply(e, initial)
			}
		}
	}
}

// buckets creates (or opens) the routes and nodes buckets and the events
// stream, and keeps them for Move and the heartbeat.
func (s *State) buckets(ctx context.Context) (jetstream.KeyValue, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      RoutesBucket,
		Description: "edged: route state (stage, weight, step, paused, plan), one key per route",
		History:     8,
		Storage:     jetstream.FileStorage,
		Replicas:    s.o.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: bucket %s: %w", RoutesBucket, err)
	}
	nodes, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      NodesBucket,
		Description: "edged: fleet members and the route state revision each applied",
		TTL:         s.o.NodeTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    s.o.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: bucket %s: %w", NodesBucket, err)
	}
	if _, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              EventsStream,
		Description:       "edged: migration history of every route",
		Subjects:          []string{eventsSubjectPrefix + ">"},
		MaxMsgsPerSubject: eventsPerRoute,
		Storage:           jetstream.FileStorage,
		Replicas:          s.o.Replicas,
		Duplicates:        2 * time.Minute,
	}); err != nil {
		return nil, fmt.Errorf("fleet: stream %s: %w", EventsStream, err)
	}
	s.mu.Lock()
	s.kv, s.nodes = kv, nodes
	s.mu.Unlock()
	return kv, nil
}

// importRecord is the value of metaImport.
type importRecord struct {
	Node string    `json:"node"`
	Time time.Time `json:"time"`
	Done bool      `json:"done"`
}

// importOnce writes the table's routes into an empty bucket, once for the
// fleet: the node that creates metaImport (kv.Create: one node wins) imports;
// the others find it and follow. Each route is written with kv.Create too, so
// a route a person changed in the meantime is not overwritten, and an import
// cut short by a lost connection is finished by the same node next session.
func (s *State) importOnce(ctx context.Context, kv jetstream.KeyValue) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	now := s.o.Now()
	rev, err := kv.Create(ctx, metaImport, encode(importRecord{Node: s.o.Node, Time: now}))
	if errors.Is(err, jetstream.ErrKeyExists) {
		e, gerr := kv.Get(ctx, metaImport)
		if gerr != nil {
			return gerr
		}
		var rec importRecord
		if jerr := json.Unmarshal(e.Value(), &rec); jerr != nil || rec.Done || rec.Node != s.o.Node {
			return nil // done, or another node's to finish
		}
		rev = e.Revision()
	} else if err != nil {
		return err
	}
	for _, r := range s.o.Table.Routes() {
		st := stateOf(r, s.planHash(r))
		st.Generation, st.Kind, st.Actor, st.Node, st.Time = 1, "fleet_import", "fleet", s.o.Node, now
		st.Reason = "imported from node " + s.o.Node + "'s migration state"
		if _, err := kv.Create(ctx, RouteKey(r.Name), encode(st)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("route %q: %w", r.Name, err)
		}
	}
	_, err = kv.Update(ctx, metaImport, encode(importRecord{Node: s.o.Node, Time: now, Done: true}), rev)
	if err == nil {
		s.o.Logger.Info("fleet: imported this node's migration state into the empty fleet state", "routes", len(s.o.Table.Routes()))
	}
	return err
}

// apply takes one entry of the watch: a newer state of a route is applied to
// the table (or noted as not applying here), remembered, and cached.
func (s *State) apply(e jetstream.KeyValueEntry, initial bool) {
	if e.Operation() != jetstream.KeyValuePut {
		return // a deleted state: the node keeps what it has
	}
	name, err := RouteName(e.Key())
	if err != nil {
		s.o.Logger.Warn("fleet: ignoring a key of "+RoutesBucket, "err", err)
		return
	}
	st, err := decodeState(e.Value())
	if err == nil && st.Name != name {
		err = fmt.Errorf("key %q holds the state of route %q", e.Key(), st.Name)
	}
	if err != nil {
		s.o.Logger.Warn("fleet: ignoring a route state", "key", e.Key(), "revision", e.Revision(), "err", err)
		return
	}
	s.mu.Lock()
	prev, ok := s.seen[e.Key()]
	s.mu.Unlock()
	// A live update older than what the node has is a redelivery. The
	// initial values are each key's newest and are always taken: a bucket
	// that was deleted and imported again starts its revisions from 1.
	if ok && prev.Revision >= e.Revision() && !initial {
		return
	}
	why := s.applyToTable(st, "", initial)
	s.mu.Lock()
	s.seen[e.Key()] = cachedRoute{Key: e.Key(), Revision: e.Revision(), State: st}
	if why != "" {
		s.skipped[name] = why
	} else {
		delete(s.skipped, name)
	}
	s.rev = max(s.rev, e.Revision())
	s.changed()
	s.mu.Unlock()
	if why != "" {
		s.o.Logger.Warn("fleet: route state not applied on this node", "route", name, "why", why)
	}
	s.wantSave()
}
