//go:build !noevents

package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Election defaults: the zero ElectionOptions means these.
const (
	// DefaultElectionBucket is the KV bucket holding the leader lock.
	DefaultElectionBucket = "edged_leader"
	// DefaultElectionKey is the lock's key in the bucket.
	DefaultElectionKey = "controller"
	// DefaultElectionTTL is how long the server keeps the lock after its
	// last renewal.
	DefaultElectionTTL = 3 * time.Second
	// MinElectionTTL is the shortest TTL accepted: shorter leases leave too
	// little margin for a round trip and a scheduling delay.
	MinElectionTTL = time.Second
)

// The lease arithmetic (see the package doc, "Leader election"): the leader
// renews every TTL/renewsPerTTL and acts for leaseRenewals renewal intervals
// after the send time of its last acknowledged renewal, so it stops acting
// (renewsPerTTL-leaseRenewals)*TTL/renewsPerTTL before the server can expire
// the lock: 1 s with the default 3 s TTL.
const (
	renewsPerTTL  = 3
	leaseRenewals = 2
)

// Reasons a term ends; TermEnd wraps one of them.
var (
	// ErrLeaseExpired: no renewal was acknowledged before the local lease ran
	// out (NATS unreachable, or too slow).
	ErrLeaseExpired = errors.New("fleet: leader lease expired before a renewal was acknowledged")
	// ErrLockLost: the lock expired on the server or another node holds it.
	ErrLockLost = errors.New("fleet: leader lock lost")
	// ErrResigned: Resign was called.
	ErrResigned = errors.New("fleet: resigned")
	// ErrElectionClosed: Close was called.
	ErrElectionClosed = errors.New("fleet: election closed")
)

// TermEnd is the cause of a term context's cancellation (context.Cause): which
// term ended, when this node stopped acting for it, and why (ErrLeaseExpired,
// ErrLockLost, ErrResigned or ErrElectionClosed, matched with errors.Is).
type TermEnd struct {
	Term uint64
	At   time.Time
	Err  error
}

// Error implements error.
func (e *TermEnd) Error() string { return fmt.Sprintf("fleet: term %d ended: %v", e.Term, e.Err) }

// Unwrap returns the reason.
func (e *TermEnd) Unwrap() error { return e.Err }

// ElectionOptions configures Elect. The zero value means the defaults above.
// Every node of a fleet must use the same Bucket, Key and TTL.
type ElectionOptions struct {
	// Bucket is the KV bucket of the lock; default DefaultElectionBucket.
	Bucket string
	// Key is the lock's key; default DefaultElectionKey. Elections for
	// different jobs use different keys.
	Key string
	// TTL is how long the server keeps the lock after a renewal; default
	// DefaultElectionTTL, at least MinElectionTTL. A dead leader is replaced
	// within TTL plus one renewal interval (TTL/3).
	TTL time.Duration
	// Replicas of the bucket in a NATS cluster; default 1.
	Replicas int
	// Logger receives one line per term gained or lost; nil discards.
	Logger *slog.Logger
}

func (o ElectionOptions) withDefaults() ElectionOptions {
	if o.Bucket == "" {
		o.Bucket = DefaultElectionBucket
	}
	if o.Key == "" {
		o.Key = DefaultElectionKey
	}
	if o.TTL == 0 {
		o.TTL = DefaultElectionTTL
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports every invalid field at once.
func (o ElectionOptions) Validate() error {
	var errs []error
	if o.TTL != 0 && o.TTL < MinElectionTTL {
		errs = append(errs, fmt.Errorf("fleet.election.ttl: %v is under the minimum %v", o.TTL, MinElectionTTL))
	}
	if o.Replicas < 0 || o.Replicas > 5 {
		errs = append(errs, fmt.Errorf("fleet.election.replicas: %d is not in 0..5", o.Replicas))
	}
	if o.Bucket != "" && !validToken(o.Bucket, false) {
		errs = append(errs, fmt.Errorf("fleet.election.bucket: %q: use letters, digits, '-' and '_'", o.Bucket))
	}
	if o.Key != "" && !validToken(o.Key, false) {
		errs = append(errs, fmt.Errorf("fleet.election.key: %q: use letters, digits, '-' and '_'", o.Key))
	}
	return errors.Join(errs...)
}

// Election is one node's candidacy for the fleet's leader lock: a KV key that
// the server expires TTL after its last write. The node takes the key with
// Create, renews it with Update on the revision it holds every TTL/3, and acts
// as leader only while its local lease (2×TTL/3 from the send time of its last
// acknowledged renewal) runs; see the package doc for why that excludes two
// leaders at once. Its methods are safe for concurrent use.
type Election struct {
	node       string
	value      []byte // "node nonce": tells this Election's writes from any other's
	kv         jetstream.KeyValue
	key        string
	renewEvery time.Duration
	lease      time.Duration
	log        *slog.Logger

	mu         sync.Mutex
	leader     string    // last known holder, "" when none
	leaderRev  uint64    // revision of the entry leader was read from
	term       uint64    // the revision that took the lock; 0 when not leading
	since      time.Time // when term began
	rev        uint64    // latest revision of the lock while leading
	leaseEnd   time.Time
	termCtx    context.Context
	termCancel context.CancelCauseFunc
	expiry     *time.Timer
	changed    chan struct{}
	retired    bool // resigned or closed: never campaign again

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Elect joins the election as node (see CheckNode), creating the bucket when
// it does not exist. It makes a first attempt to take the lock before it
// returns, so Leader reports the outcome; after that a goroutine renews the
// lock while this node leads and otherwise watches it and takes it when it
// falls free. Close stops it.
//
// An existing bucket whose TTL differs from o.TTL is an error: the local lease
// is computed from o.TTL, so a node with a longer TTL than the server's would
// act past the lock's expiry.
func Elect(ctx context.Context, js jetstream.JetStream, node string, o ElectionOptions) (*Election, error) {
	if err := CheckNode(node); err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	kv, err := openLockBucket(ctx, js, o)
	if err != nil {
		return nil, err
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails
	e := &Election{
		node:       node,
		value:      []byte(node + " " + hex.EncodeToString(nonce[:])),
		kv:         kv,
		key:        o.Key,
		renewEvery: o.TTL / renewsPerTTL,
		lease:      leaseRenewals * o.TTL / renewsPerTTL,
		log:        o.Logger.With("node", node, "lock", o.Bucket+"/"+o.Key),
		changed:    make(chan struct{}),
		done:       make(chan struct{}),
	}
	runCtx, stop := context.WithCancel(context.Background())
	e.stop = stop
	// The watcher tells followers at once when the lock is written, deleted or
	// expired (the bucket's limit markers make expiry visible); polling every
	// renewal interval is the fallback if it stalls.
	w, err := kv.Watch(runCtx, o.Key)
	if err != nil {
		stop()
		return nil, fmt.Errorf("fleet: watch %s/%s: %w", o.Bucket, o.Key, err)
	}
	e.campaign(ctx)
	go e.run(runCtx, w)
	return e, nil
}

func openLockBucket(ctx context.Context, js jetstream.JetStream, o ElectionOptions) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      o.Bucket,
		Description: "edged: fleet leader lock (expires TTL after its last renewal)",
		History:     1,
		TTL:         o.TTL,
		// A marker on expiry lets watchers see the lock fall free at once.
		LimitMarkerTTL: o.TTL,
		// On disk, not in memory: terms are the bucket's revisions and are
		// stored on the routes as fences (State.Fenced), so they must keep
		// growing across a restart of the NATS servers. A bucket in memory
		// would start again from revision 1 and every new leader's writes
		// would be refused.
		Storage:  jetstream.FileStorage,
		Replicas: o.Replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, o.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: bucket %s: %w", o.Bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("fleet: bucket %s: %w", o.Bucket, err)
	}
	if st.TTL() != o.TTL {
		return nil, fmt.Errorf("fleet: bucket %s has TTL %v, this node is configured with %v: every node must use the same TTL",
			o.Bucket, st.TTL(), o.TTL)
	}
	return kv, nil
}

// Node returns this node's name.
func (e *Election) Node() string { return e.node }

// Leader returns the node holding the lock as last seen (this node while it
// leads), and false when the lock is free or its holder is not known yet.
func (e *Election) Leader() (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leadingLocked() {
		return e.node, true
	}
	return e.leader, e.leader != ""
}

// IsLeader reports whether this node leads now: it holds the lock and its
// local lease has not run out. The answer can be stale by the time it is
// used; code acting as leader should run under Leading's context and write
// with its term.
func (e *Election) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leadingLocked()
}

// Term returns this node's current term, 0 when it does not lead. A term is
// the bucket revision of the write that took the lock: it grows with every
// new term across the fleet, so writes that carry it can be fenced (a store
// refuses a write whose term is below one it has already seen).
func (e *Election) Term() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.leadingLocked() {
		return 0
	}
	return e.term
}

// ElectionStatus is a reading of an Election, for people (`edged status`).
type ElectionStatus struct {
	// Node is this node.
	Node string
	// Leader is the lock's holder as last seen; "" when free or unknown.
	Leader string
	// IsLeader, Term and Since describe this node's term while it leads:
	// its number and when it began. Term is 0 otherwise.
	IsLeader bool
	Term     uint64
	Since    time.Time
}

// Status returns the Election's state now.
func (e *Election) Status() ElectionStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leadingLocked() {
		return ElectionStatus{Node: e.node, Leader: e.node, IsLeader: true, Term: e.term, Since: e.since}
	}
	return ElectionStatus{Node: e.node, Leader: e.leader}
}

// Leading returns, while this node leads, a context that is cancelled the
// moment it must stop acting (context.Cause is then a *TermEnd) and the term
// number. ok is false when it does not lead.
func (e *Election) Leading() (ctx context.Context, term uint64, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.leadingLocked() {
		return nil, 0, false
	}
	return e.termCtx, e.term, true
}

// Changed returns a channel closed at the next change of Leader or of this
// node's leadership; call it again for the change after. A change between
// two calls is not lost: read the state after the channel closes.
func (e *Election) Changed() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed
}

// Resign steps down if this node leads, then deletes the lock so another
// node takes over at once rather than after the TTL, and stops campaigning:
// this Election never leads again. It returns an error only when the lock
// could not be deleted (it then expires after the TTL).
func (e *Election) Resign(ctx context.Context) error {
	e.mu.Lock()
	e.retired = true
	term := e.term
	if term != 0 {
		e.stepDownLocked(ErrResigned)
	}
	e.mu.Unlock()
	return e.release(ctx, term)
}

// Close resigns (stepping down first) and stops the Election's goroutine. It
// waits for the goroutine until ctx ends. Safe to call twice; the second
// call returns the first result.
func (e *Election) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.retired = true
		term := e.term
		if term != 0 {
			e.stepDownLocked(ErrElectionClosed)
		}
		e.mu.Unlock()
		e.stop()
		select {
		case <-e.done:
		case <-ctx.Done():
			e.closeErr = ctx.Err()
			return
		}
		e.closeErr = e.release(ctx, term)
	})
	return e.closeErr
}

// release deletes the lock if this Election's value is in it, so the next
// leader need not wait for the TTL. term is 0 when there is nothing to do.
func (e *Election) release(ctx context.Context, term uint64) error {
	if term == 0 {
		return nil
	}
	// A renewal in flight may have moved the revision: read, then delete on
	// exactly the revision read, a few times at most.
	for range 3 {
		ent, err := e.kv.Get(ctx, e.key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("fleet: release lock: %w", err)
		}
		if !bytes.Equal(ent.Value(), e.value) {
			return nil // expired and taken already
		}
		err = e.kv.Delete(ctx, e.key, jetstream.LastRevision(ent.Revision()))
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("fleet: release lock: %w", err)
		}
	}
	return errors.New("fleet: release lock: revision kept moving")
}

// leadingLocked reports whether this node leads now. The time check makes the
// answer right even when the expiry timer has not run yet.
func (e *Election) leadingLocked() bool {
	return e.term != 0 && time.Now().Before(e.leaseEnd)
}

func (e *Election) notifyLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// stepDownLocked ends the current term: the term context is cancelled first,
// so everything acting for it stops before anyone can observe the change.
func (e *Election) stepDownLocked(reason error) {
	if e.term == 0 {
		return
	}
	end := &TermEnd{Term: e.term, At: time.Now(), Err: reason}
	e.termCancel(end)
	e.expiry.Stop()
	e.log.Info("fleet leadership lost", "term", e.term, "reason", reason.Error())
	e.term, e.rev, e.termCtx, e.termCancel = 0, 0, nil, nil
	if e.leader == e.node {
		e.leader = ""
	}
	e.notifyLocked()
}

// gain starts a term at revision rev, taken by a write sent at sent.
func (e *Election) gain(rev uint64, sent time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	end := sent.Add(e.lease)
	if e.retired || e.term != 0 || !time.Now().Before(end) {
		// Too late to act on (the write took longer than the lease) or no
		// longer wanted: the lock expires on its own, or the next campaign
		// takes it afresh.
		return
	}
	e.term, e.rev, e.leaseEnd, e.since = rev, rev, end, time.Now()
	e.termCtx, e.termCancel = context.WithCancelCause(context.Background())
	term := rev
	e.expiry = time.AfterFunc(time.Until(end), func() { e.expire(term) })
	e.leader, e.leaderRev = e.node, rev
	e.log.Info("fleet leadership gained", "term", rev)
	e.notifyLocked()
}

// extend moves the lease of term to from+lease after an acknowledged renewal
// that produced revision rev. A term that already ended stays ended.
func (e *Election) extend(term, rev uint64, from time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.term != term {
		return
	}
	e.rev = rev
	if end := from.Add(e.lease); end.After(e.leaseEnd) {
		e.leaseEnd = end
		e.expiry.Reset(time.Until(end))
	}
}

// expire runs when term's lease may have run out.
func (e *Election) expire(term uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.term == term && !time.Now().Before(e.leaseEnd) {
		e.stepDownLocked(ErrLeaseExpired)
	}
}

func (e *Election) lost(term uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.term == term {
		e.stepDownLocked(ErrLockLost)
	}
}

// holder parses the node name out of a lock value "node nonce".
func holder(v []byte) string {
	node, _, _ := strings.Cut(string(v), " ")
	return node
}

// observe takes in an entry of the lock key from the watcher or a read.
func (e *Election) observe(ent jetstream.KeyValueEntry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rev := ent.Revision()
	if rev <= e.leaderRev {
		return // older than what is known
	}
	e.leaderRev = rev
	put := ent.Operation() == jetstream.KeyValuePut
	ours := put && bytes.Equal(ent.Value(), e.value)
	if e.term != 0 && rev > e.rev && !ours {
		// The server says the lock is gone or someone else's: stop at once,
		// do not wait for the next renewal to fail.
		e.stepDownLocked(ErrLockLost)
	}
	prev := e.leader
	if put {
		e.leader = holder(ent.Value())
	} else {
		e.leader = ""
	}
	if e.leader != prev {
		e.notifyLocked()
	}
}

func (e *Election) snapshot() (term, rev uint64, leaseEnd time.Time, retired bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.term, e.rev, e.leaseEnd, e.retired
}

// run owns every write to the lock after Elect: renewals while leading,
// campaigns otherwise.
func (e *Election) run(ctx context.Context, w jetstream.KeyWatcher) {
	defer close(e.done)
	defer func() { _ = w.Stop() }()
	updates := w.Updates()
	timer := time.NewTimer(e.renewEvery)
	defer timer.Stop()
	var pendingSince time.Time // send time of the oldest unacknowledged renewal
	for {
		select {
		case <-ctx.Done():
			return
		case ent, ok := <-updates:
			if !ok {
				updates = nil // the timer polls from now on
				continue
			}
			if ent == nil {
				continue // end of the initial value
			}
			e.observe(ent)
			if term, _, _, retired := e.snapshot(); term == 0 && !retired && ent.Operation() != jetstream.KeyValuePut {
				e.campaign(ctx)
				resetTimer(timer, e.renewEvery)
			}
		case <-timer.C:
			term, rev, leaseEnd, retired := e.snapshot()
			switch {
			case term != 0:
				if pendingSince.IsZero() {
					pendingSince = time.Now()
				}
				if e.renew(ctx, term, rev, leaseEnd, pendingSince) {
					pendingSince = time.Time{}
					resetTimer(timer, e.renewEvery)
				} else {
					resetTimer(timer, e.renewEvery/4) // retry soon; the lease timer ends the term if this lasts
				}
			case retired:
				resetTimer(timer, e.renewEvery)
			default:
				pendingSince = time.Time{}
				e.campaign(ctx)
				resetTimer(timer, e.renewEvery)
			}
		}
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	t.Reset(d)
}

// campaign tries once to take the lock.
func (e *Election) campaign(ctx context.Context) {
	if _, _, _, retired := e.snapshot(); retired {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, e.renewEvery)
	defer cancel()
	sent := time.Now()
	rev, err := e.kv.Create(cctx, e.key, e.value)
	if err == nil {
		e.gain(rev, sent)
		return
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		e.log.Debug("fleet election: create lock", "error", err)
		return
	}
	ent, err := e.kv.Get(cctx, e.key)
	if err != nil {
		return // gone meanwhile: the watcher or the next poll tries again
	}
	e.observe(ent)
	if bytes.Equal(ent.Value(), e.value) {
		// Still ours from a term this node already ended (its lease ran out
		// while a renewal was landing): take it again as a new term.
		sent = time.Now()
		if rev, err := e.kv.Update(cctx, e.key, e.value, ent.Revision()); err == nil {
			e.gain(rev, sent)
		}
	}
}

// renew renews term's lock at revision rev once and reports whether the lock
// is held for another lease. pendingSince is the send time of the oldest
// renewal not yet acknowledged, this one included.
func (e *Election) renew(ctx context.Context, term, rev uint64, leaseEnd, pendingSince time.Time) bool {
	rctx, cancel := context.WithDeadline(ctx, leaseEnd)
	defer cancel()
	sent := time.Now()
	nrev, err := e.kv.Update(rctx, e.key, e.value, rev)
	if err == nil {
		// This write landed, so the server expires the lock TTL after a
		// moment later than sent.
		e.extend(term, nrev, sent)
		return true
	}
	if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		e.log.Debug("fleet election: renew lock", "term", term, "error", err)
		return false
	}
	// The revision moved: an earlier renewal whose answer was lost may have
	// landed, and then the lock is still ours, written no earlier than
	// pendingSince.
	ent, gerr := e.kv.Get(rctx, e.key)
	if gerr == nil && bytes.Equal(ent.Value(), e.value) && ent.Revision() > rev {
		e.extend(term, ent.Revision(), pendingSince)
		return true
	}
	e.lost(term)
	return false
}
