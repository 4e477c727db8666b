//go:build !noevents

package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/strangler"
)

// ErrBusy means a Move lost maxCASAttempts compare-and-swaps in a row to
// other writers of the same route.
var ErrBusy = errors.New("fleet: route changed by others too often to apply the change")

// Move makes a change of the fleet: it reads the route's state from the
// bucket, applies tr to it (the same stage machine as a local table), and
// writes it back with a compare-and-swap on the revision read (kv.Create for
// a route the bucket does not hold yet). When another node wrote first, it
// reads again and retries, so concurrent changes are all applied, one after
// the other, and none is lost. It returns once this node has applied the
// change too. A node that is not following the bucket (NATS unreachable)
// refuses with an error matching strangler.ErrUnavailable.
//
// A node whose plan for the route differs from the one the stored state
// belongs to (its router.toml changed) moves from its own route, as after a
// reload in file mode, and its plan becomes the stored one.
func (s *State) Move(ctx context.Context, name string, tr strangler.Transition, a strangler.Action) (strangler.Route, error) {
	return s.move(ctx, name, tr, a, 0)
}

// ErrFenced is matched by a FencedError.
var ErrFenced = errors.New("fleet: write of a deposed leader refused")

// FencedError refuses a controller's write made for a leader's term below
// the highest term already stored on the route: a newer leader has written
// the route since, so the older leader's decision, judged on windows of its
// own term, must not land on top of it. It matches ErrFenced.
type FencedError struct {
	Route  string
	Term   uint64 // the term the write was made for
	Stored uint64 // the highest term stored on the route
}

// Error implements error.
func (e *FencedError) Error() string {
	return fmt.Sprintf("fleet: route %q: write of leader term %d refused, term %d has written it since", e.Route, e.Term, e.Stored)
}

// Unwrap returns ErrFenced.
func (e *FencedError) Unwrap() error { return ErrFenced }

// Fenced returns a Mover whose writes are the decisions of the leader of
// term (fleet.Election's term, the revision of the write that took the
// lock): each write stores the term on the route, and a write on a route
// that a later term has already written is refused with a *FencedError,
// the state left as it is. The compare-and-swap on the revision read makes
// the check and the write one step: a newer leader writing in between makes
// the write retry, read the newer term and refuse. Moves made with Move
// (people) are not fenced and keep the stored term.
func (s *State) Fenced(term uint64) strangler.Mover { return fencedMover{s: s, term: term} }

type fencedMover struct {
	s    *State
	term uint64
}

func (m fencedMover) Move(ctx context.Context, name string, tr strangler.Transition, a strangler.Action) (strangler.Route, error) {
	return m.s.move(ctx, name, tr, a, m.term)
}

// move is Move for a leader of term, 0 for a change not fenced.
func (s *State) move(ctx context.Context, name string, tr strangler.Transition, a strangler.Action, term uint64) (strangler.Route, error) {
	kv, err := s.writable()
	if err != nil {
		return strangler.Route{}, err
	}
	local, ok := s.o.Table.Route(name)
	if !ok {
		return strangler.Route{}, fmt.Errorf("move %q: %w", name, strangler.ErrNotFound)
	}
	key, hash := RouteKey(name), s.planHash(local)
	for range maxCASAttempts {
		cur, rev, err := s.read(ctx, kv, key)
		if err != nil {
			return strangler.Route{}, err
		}
		if term != 0 && term < cur.Term {
			return strangler.Route{}, &FencedError{Route: name, Term: term, Stored: cur.Term}
		}
		r := local
		if rev > 0 && cur.Plan == hash {
			cur.set(&r)
		}
		if err := tr.Apply(&r); err != nil {
			return strangler.Route{}, fmt.Errorf("move %q: %w", name, err)
		}
		next := stateOf(r, hash)
		next.Generation, next.Kind, next.Actor, next.Reason = cur.Generation+1, tr.Kind, a.Actor, a.Reason
		next.Node, next.Time, next.Term = s.o.Node, s.o.Now(), max(cur.Term, term)
		newRev, err := s.write(ctx, kv, key, next, rev)
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // another writer won: read its state and move from there
		}
		if err != nil {
			return strangler.Route{}, err
		}
		s.publish(ctx, key, newRev, local.Stage, cur, next, rev > 0)
		if err := s.waitSeen(ctx, key, newRev); err != nil {
			return r, err
		}
		return r, nil
	}
	return strangler.Route{}, fmt.Errorf("move %q: %w", name, ErrBusy)
}

// writable returns the routes bucket, or the error that refuses a change
// while the node does not follow it.
func (s *State) writable() (jetstream.KeyValue, error) {
	s.mu.Lock()
	kv, live, since := s.kv, s.live, s.syncedAt
	s.mu.Unlock()
	if kv != nil && live && s.nc.Status() == nats.CONNECTED {
		return kv, nil
	}
	msg := "never reached"
	if !since.IsZero() {
		msg = "last in sync " + since.UTC().Format(time.RFC3339)
	}
	return nil, fmt.Errorf("%w: node %s cannot reach the fleet's route state in NATS (%s); it serves its last-known-good state and refuses changes until NATS is back",
		strangler.ErrUnavailable, s.o.Node, msg)
}

// unavailable wraps an error of JetStream as strangler.ErrUnavailable.
func (s *State) unavailable(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", strangler.ErrUnavailable, what, err)
}

// read returns a route's stored state and revision (0 when none).
func (s *State) read(ctx context.Context, kv jetstream.KeyValue, key string) (RouteState, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return RouteState{}, 0, nil
	}
	if err != nil {
		return RouteState{}, 0, s.unavailable("read "+key, err)
	}
	st, err := decodeState(e.Value())
	if err != nil {
		// A state no node could have written: moving from the node's own
		// route and overwriting it is the way out.
		s.o.Logger.Warn("fleet: overwriting an unreadable route state", "key", key, "err", err)
		return RouteState{Plan: "\x00unreadable"}, e.Revision(), nil
	}
	return st, e.Revision(), nil
}

// write stores st with a compare-and-swap on rev (Create when rev is 0).
func (s *State) write(ctx context.Context, kv jetstream.KeyValue, key string, st RouteState, rev uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	var (
		n   uint64
		err error
	)
	if rev == 0 {
		n, err = kv.Create(ctx, key, encode(st))
	} else {
		n, err = kv.Update(ctx, key, encode(st), rev)
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, s.unavailable("write "+key, err)
	}
	return n, err
}

// publishRetryWait is the pause between attempts to append to EventsStream
// while it has no leader.
const publishRetryWait = 100 * time.Millisecond

// historyEvent is a message of EventsStream.
type historyEvent struct {
	Route    string          `json:"route"`
	Kind     string          `json:"kind"`
	From     strangler.Stage `json:"from"`
	To       strangler.Stage `json:"to"`
	Weight   int             `json:"weight"`
	Step     int             `json:"step"`
	Actor    string          `json:"actor,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Node     string          `json:"node"`
	Time     time.Time       `json:"time"`
	Revision uint64          `json:"revision"`
}

// publish appends the change to EventsStream, with the key and revision as
// message id so a retried publish is stored once. The state is already
// written; a failed publish loses a line of history only, and is logged.
func (s *State) publish(ctx context.Context, key string, rev uint64, localFrom strangler.Stage, cur, next RouteState, stored bool) {
	from := localFrom
	if stored {
		from = cur.Stage
	}
	ev := historyEvent{Route: next.Name, Kind: next.Kind, From: from, To: next.Stage, Weight: next.Weight, Step: next.Step,
		Actor: next.Actor, Reason: next.Reason, Node: next.Node, Time: next.Time, Revision: rev}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	// A stream electing its leader (a server of the cluster died) has no
	// responders for a few seconds: retried within the timeout, the message
	// id keeping a retried append single.
	if _, err := s.js.Publish(ctx, EventsSubject(next.Name), encode(ev), jetstream.WithMsgID(fmt.Sprintf("%s:%d", key, rev)),
		jetstream.WithRetryAttempts(int(s.o.Timeout/publishRetryWait)), jetstream.WithRetryWait(publishRetryWait)); err != nil {
		s.o.Logger.Warn("fleet: route event not stored in "+EventsStream, "route", next.Name, "revision", rev, "err", err)
	}
}

// waitSeen blocks until the watch has brought revision rev of key (or a
// later one) to this node, so that the caller reads its own write.
func (s *State) waitSeen(ctx context.Context, key string, rev uint64) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	for {
		s.mu.Lock()
		done, wake := s.seen[key].Revision >= rev, s.wake
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fleet: change written (revision %d) but not yet applied on this node: %w", rev, ctx.Err())
		case <-wake:
		}
	}
}
