package kvstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/idempotency"
)

// Defaults applied to zero fields of Options. TTL, MaxResponseBytes and
// WatchTimeout default to the idempotency package's values.
const (
	DefaultBucket         = "edged_idempotency"
	DefaultClaimTTL       = 30 * time.Second
	DefaultMaxBucketBytes = 256 << 20
)

const (
	// markerTTL is how long a release (Abort) or an expiry leaves its marker
	// in the bucket: long enough for every watcher to see it, short enough
	// that released keys do not pile up. JetStream's minimum is 1s.
	markerTTL = time.Minute
	// beginAttempts bounds Begin's create-then-read loop when the key is
	// released and claimed again between the two calls.
	beginAttempts = 3
	// payloadHeadroom is kept free of the connection's max payload for the
	// JetStream headers of a write (expected sequence, TTL).
	payloadHeadroom = 1024
	// renewTimeout caps one renewal, which holds the claim's lock: a
	// Complete waits for it, so it must not wait on an unreachable NATS for
	// a third of a long ClaimTTL.
	renewTimeout = 5 * time.Second
	// watchRetry is the pause before a waiter whose watch could not start
	// calls Begin again, so a failing watch does not spin.
	watchRetry = 100 * time.Millisecond
)

// Options configures New. The zero value is every default.
type Options struct {
	// Bucket is the KV bucket holding the keys, shared by every node of the
	// fleet and every route (keys are namespaced by route and client before
	// they reach the store). Default "edged_idempotency".
	Bucket string
	// Node names this edged in the claims it writes, for people reading the
	// bucket; default the hostname. Nothing is decided by it.
	Node string
	// TTL is how long a completed response is replayed, counted from its
	// completion, in whole seconds (JetStream's per-message TTL); at least
	// 1s. Default idempotency.DefaultTTL (24h).
	TTL time.Duration
	// ClaimTTL is how long a claim outlives the last sign of life of the node
	// that holds it. The holder renews its claim every ClaimTTL/3 while the
	// request runs, so a long request keeps its key; a node that dies (or is
	// cut off from NATS) loses it ClaimTTL later at most, and a duplicate
	// then runs. Whole seconds, at least 1s. Default 30s.
	ClaimTTL time.Duration
	// MaxResponseBytes caps one stored response (body plus header names and
	// values), as idempotency.Options.MaxResponseBytes does; a larger one is
	// released, not stored. The NATS connection's max payload (1 MB by
	// default) caps the encoded record too. Default
	// idempotency.DefaultMaxResponseBytes.
	MaxResponseBytes int
	// MaxBucketBytes bounds the bucket on disk. When it is full, new keys are
	// refused with idempotency.ErrStoreFull (the Handler answers 503) until
	// entries expire: JetStream refuses the write rather than dropping a
	// claim. Default 256 MiB.
	MaxBucketBytes int64
	// Replicas is the bucket's replication factor in a NATS cluster (1, 3 or
	// 5). Default 1.
	Replicas int
	// Storage is where the bucket lives; default jetstream.FileStorage, so
	// keys survive a restart of NATS.
	Storage jetstream.StorageType
	// WatchTimeout bounds one wait for a running request's key (a KV watch).
	// The Handler's own WaitTimeout bounds the whole wait; this only stops a
	// watch whose waiter has given up. Default idempotency.DefaultWaitTimeout.
	WatchTimeout time.Duration
}

func (o Options) withDefaults() (Options, error) {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ttl", o.TTL}, {"claim_ttl", o.ClaimTTL}} {
		if d.v != 0 && d.v < time.Second {
			errs = append(errs, fmt.Errorf("%s: %v is below JetStream's 1s minimum", d.name, d.v))
		}
	}
	if o.MaxResponseBytes < 0 {
		errs = append(errs, errors.New("max_response_bytes: must be >= 0"))
	}
	if o.MaxBucketBytes < 0 {
		errs = append(errs, errors.New("max_bucket_bytes: must be >= 0"))
	}
	if o.WatchTimeout < 0 {
		errs = append(errs, errors.New("watch_timeout: must be >= 0"))
	}
	switch o.Replicas {
	case 0, 1, 3, 5:
	default:
		errs = append(errs, fmt.Errorf("replicas: %d is not 1, 3 or 5", o.Replicas))
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("kvstore: %w", errors.Join(errs...))
	}
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.Node == "" {
		o.Node, _ = os.Hostname()
	}
	if o.TTL == 0 {
		o.TTL = idempotency.DefaultTTL
	}
	if o.ClaimTTL == 0 {
		o.ClaimTTL = DefaultClaimTTL
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = idempotency.DefaultMaxResponseBytes
	}
	if o.MaxBucketBytes == 0 {
		o.MaxBucketBytes = DefaultMaxBucketBytes
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.WatchTimeout == 0 {
		o.WatchTimeout = idempotency.DefaultWaitTimeout
	}
	return o, nil
}

// Store is an idempotency.Store in a JetStream KV bucket, shared by every
// edged node connected to the same NATS. It is safe for concurrent use.
// Create it with New.
type Store struct {
	js           jetstream.JetStream
	kv           jetstream.KeyValue
	subject      string // "$KV.<bucket>.", the prefix of a key's subject
	node         string
	ttl          time.Duration
	claimTTL     time.Duration
	watchTimeout time.Duration
	maxResponse  int
	maxValue     int

	mu     sync.Mutex
	claims map[string]*claim // keys this node holds, by bucket key
	waits  map[string]*wait  // keys this node's requests wait for, by bucket key
}

// claim is a key this node holds: the revision its next write must match
// (compare-and-swap), renewed by a timer while the request runs.
type claim struct {
	fp   [32]byte
	done chan struct{} // closed when settled, for local duplicates

	mu      sync.Mutex // serialises renewals with the settling write
	rev     uint64
	settled bool
	timer   *time.Timer
}

// wait is a watch on a key held elsewhere, shared by this node's duplicates.
type wait struct {
	done chan struct{}
}

// Compile-time check that Store satisfies the interface.
var _ idempotency.Store = (*Store)(nil)

// New creates the bucket if needed (or updates its settings to o's) and
// returns a Store on it. The bucket allows per-message TTLs, which need
// nats-server 2.11 or later. Every node of a fleet must pass the same
// Bucket, MaxBucketBytes, Replicas and Storage; TTL, ClaimTTL and
// MaxResponseBytes may differ per route (see Derive).
func New(ctx context.Context, js jetstream.JetStream, o Options) (*Store, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         o.Bucket,
		Description:    "edged: idempotency keys (claims and completed responses)",
		MaxBytes:       o.MaxBucketBytes,
		Storage:        o.Storage,
		Replicas:       o.Replicas,
		LimitMarkerTTL: markerTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("kvstore: bucket %s: %w", o.Bucket, err)
	}
	return newStore(js, kv, "$KV."+o.Bucket+".", int(js.Conn().MaxPayload())-payloadHeadroom, o), nil
}

// Derive returns a Store on s's bucket with o's per-route settings (TTL,
// ClaimTTL, MaxResponseBytes, WatchTimeout, Node), a zero field taking s's
// value; o's bucket fields are ignored. It makes no request to NATS, so a
// configuration of many idempotent routes opens the bucket once with New and
// derives a Store per route. Each keeps its own claims, so InFlight counts
// per route as MemoryStore's does.
func (s *Store) Derive(o Options) (*Store, error) {
	o.Bucket, o.MaxBucketBytes, o.Replicas, o.Storage = "", 0, 0, jetstream.FileStorage
	for _, f := range []struct {
		field *time.Duration
		v     time.Duration
	}{{&o.TTL, s.ttl}, {&o.ClaimTTL, s.claimTTL}, {&o.WatchTimeout, s.watchTimeout}} {
		if *f.field == 0 {
			*f.field = f.v
		}
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = s.maxResponse
	}
	if o.Node == "" {
		o.Node = s.node
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return newStore(s.js, s.kv, s.subject, s.maxValue, o), nil
}

func newStore(js jetstream.JetStream, kv jetstream.KeyValue, subject string, maxValue int, o Options) *Store {
	return &Store{
		js:           js,
		kv:           kv,
		subject:      subject,
		node:         o.Node,
		ttl:          o.TTL,
		claimTTL:     o.ClaimTTL,
		watchTimeout: o.WatchTimeout,
		maxResponse:  o.MaxResponseBytes,
		maxValue:     maxValue,
		claims:       make(map[string]*claim),
		waits:        make(map[string]*wait),
	}
}

// InFlight returns the number of keys whose request runs on this node (the
// claims it holds), for the edged_idempotency_in_flight metric, which is per
// node as with MemoryStore.
func (s *Store) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.claims)
}

// bucketKey maps an untrusted key of any bytes and length to a valid KV key
// of fixed size: the hex of its SHA-256.
func bucketKey(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:])
}

// retryNow is a Done for a caller that should call Begin again at once. It is
// closed once and never changes.
var retryNow = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Begin implements idempotency.Store: a KV Create of a claim (with the
// claim's TTL) wins the key; otherwise the key's record says replay,
// mismatch, or in flight, in which case Done closes when the holder
// completes or releases it or its claim expires.
func (s *Store) Begin(ctx context.Context, key []byte, fp [32]byte) (idempotency.Begin, error) {
	k := bucketKey(key)
	s.mu.Lock()
	if c := s.claims[k]; c != nil {
		// Held by a request of this node: no round trip to learn it.
		s.mu.Unlock()
		if c.fp != fp {
			return idempotency.Begin{State: idempotency.StateMismatch}, nil
		}
		return idempotency.Begin{State: idempotency.StateInFlight, Done: c.done}, nil
	}
	s.mu.Unlock()
	if !s.js.Conn().IsConnected() {
		// Refuse at once rather than queue a claim in the client's
		// reconnect buffer: the caller would give up waiting, and the claim,
		// sent on reconnect, would hold the key for ClaimTTL with nobody
		// running its request.
		return idempotency.Begin{}, errNotConnected
	}
	for attempt := range beginAttempts {
		rev, err := s.claim(ctx, k, fp, attempt > 0)
		if err == nil {
			s.hold(k, fp, rev)
			return idempotency.Begin{State: idempotency.StateNew}, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return idempotency.Begin{}, storeError("begin", err)
		}
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			// Released or expired: its marker is the subject's last
			// message, which KeyValue.Create knows to write over.
			continue
		}
		if err != nil {
			return idempotency.Begin{}, storeError("begin", err)
		}
		rec, err := decodeRecord(e.Value())
		switch {
		case err != nil:
			// Refused (the Handler answers 503) rather than run unguarded.
			return idempotency.Begin{}, fmt.Errorf("kvstore: key %s: %w", k, err)
		case rec.fp != fp:
			return idempotency.Begin{State: idempotency.StateMismatch}, nil
		case rec.kind == kindCompleted:
			return idempotency.Begin{State: idempotency.StateReplay, Response: rec.resp}, nil
		default:
			return idempotency.Begin{State: idempotency.StateInFlight, Done: s.waitFor(k)}, nil
		}
	}
	// The key keeps changing hands: let the caller wait its turn and retry.
	return idempotency.Begin{State: idempotency.StateInFlight, Done: retryNow}, nil
}

// claim writes a claim for k if the key has no record: the write of
// KeyValue.Create. The first attempt publishes it directly, expecting the
// subject to be empty, because a refused Create reads the key before
// reporting ErrKeyExists, and Begin reads it anyway: a duplicate then costs
// two round trips, not three. Later attempts (after a read found a release
// or expiry marker, which a direct write expecting nothing would not write
// over) use KeyValue.Create itself.
func (s *Store) claim(ctx context.Context, k string, fp [32]byte, viaCreate bool) (uint64, error) {
	v := appendClaim(nil, fp, s.node, time.Now().Add(s.claimTTL))
	if viaCreate {
		return s.kv.Create(ctx, k, v, jetstream.KeyTTL(s.claimTTL))
	}
	ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: s.subject + k, Data: v},
		jetstream.WithExpectLastSequencePerSubject(0), jetstream.WithMsgTTL(s.claimTTL))
	if isWrongRevision(err) {
		return 0, fmt.Errorf("%w: %w", jetstream.ErrKeyExists, err)
	}
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// Complete implements idempotency.Store: the claim is replaced by the
// response with a compare-and-swap on the claim's revision, carrying TTL.
// A response larger than MaxResponseBytes (or than a NATS message can
// carry) releases the key as Abort does. The error of a lost claim (it
// expired while this node was cut off, and another node claimed the key)
// says so; the answer already given stands.
//
// The write goes through even when ctx is cancelled, as a fasthttp request's
// context is once the server starts shutting down while requests drain:
// otherwise a request finished during a graceful shutdown would lose its
// answer and leave its key claimed for ClaimTTL. JetStream's request timeout
// still bounds the write. Abort does the same.
func (s *Store) Complete(ctx context.Context, key []byte, resp *idempotency.StoredResponse) error {
	ctx = context.WithoutCancel(ctx) // see the doc comment
	k := bucketKey(key)
	c, rev, err := s.settle(k, "complete")
	if err != nil {
		return err
	}
	defer close(c.done)
	size := completedSize(resp)
	if size < 0 || resp.Size() > s.maxResponse || size > s.maxValue {
		return s.release(ctx, k, rev)
	}
	msg := &nats.Msg{Subject: s.subject + k, Data: appendCompleted(make([]byte, 0, size), c.fp, resp)}
	_, err = s.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(s.ttl))
	if isWrongRevision(err) {
		return fmt.Errorf("kvstore: complete %s: claim lost (expired, then taken by another request): %w", k, err)
	}
	if err != nil {
		return storeError("complete", err)
	}
	return nil
}

// Abort implements idempotency.Store: the claim is purged if it is still
// this node's (the revision matches), leaving a marker that expires.
func (s *Store) Abort(ctx context.Context, key []byte) error {
	ctx = context.WithoutCancel(ctx) // as in Complete
	k := bucketKey(key)
	c, rev, err := s.settle(k, "abort")
	if err != nil {
		return err
	}
	defer close(c.done)
	return s.release(ctx, k, rev)
}

func (s *Store) release(ctx context.Context, k string, rev uint64) error {
	if err := s.kv.Purge(ctx, k, jetstream.LastRevision(rev), jetstream.PurgeTTL(markerTTL)); err != nil {
		return storeError("release", err)
	}
	return nil
}

// hold records a claim won at rev and starts renewing it.
func (s *Store) hold(k string, fp [32]byte, rev uint64) {
	c := &claim{fp: fp, done: make(chan struct{}), rev: rev}
	c.mu.Lock()
	c.timer = time.AfterFunc(s.claimTTL/3, func() { s.renew(k, c) })
	c.mu.Unlock()
	s.mu.Lock()
	s.claims[k] = c
	s.mu.Unlock()
}

// settle takes the claim of k off renewal and returns it with the revision
// the settling write must match.
func (s *Store) settle(k, op string) (*claim, uint64, error) {
	s.mu.Lock()
	c := s.claims[k]
	delete(s.claims, k)
	s.mu.Unlock()
	if c == nil {
		return nil, 0, fmt.Errorf("kvstore: %s %s: key not in flight on this node", op, k)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.settled = true
	c.timer.Stop()
	return c, c.rev, nil
}

// renew rewrites the claim with a fresh TTL while its request runs. A
// renewal that finds another revision has lost the claim and stops; one that
// fails otherwise (NATS unreachable) tries again next period, and the claim
// may expire meanwhile: that is the partition case of the package doc.
func (s *Store) renew(k string, c *claim) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.settled {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(s.claimTTL/3, renewTimeout))
	defer cancel()
	msg := &nats.Msg{Subject: s.subject + k, Data: appendClaim(nil, c.fp, s.node, time.Now().Add(s.claimTTL))}
	ack, err := s.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(c.rev), jetstream.WithMsgTTL(s.claimTTL))
	switch {
	case err == nil:
		c.rev = ack.Sequence
	case isWrongRevision(err):
		return // lost: the settling write will fail and say so
	}
	c.timer.Reset(s.claimTTL / 3)
}

// waitFor returns a channel closed when k stops being in flight (completed,
// released or expired), or after WatchTimeout. Duplicates on this node share
// one KV watch per key.
func (s *Store) waitFor(k string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.waits[k]; w != nil {
		return w.done
	}
	w := &wait{done: make(chan struct{})}
	s.waits[k] = w
	go s.watch(k, w)
	return w.done
}

// watch follows k until its record is no longer a claim. The watch starts
// with the key's current record, so a change between Begin's read and the
// watch is not missed.
func (s *Store) watch(k string, w *wait) {
	defer func() {
		s.mu.Lock()
		delete(s.waits, k)
		s.mu.Unlock()
		close(w.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), s.watchTimeout)
	defer cancel()
	kw, err := s.kv.Watch(ctx, k)
	if err != nil {
		// The waiter calls Begin again, which reports a NATS outage; pause
		// first, so a watch that keeps failing does not make it spin.
		select {
		case <-time.After(watchRetry):
		case <-ctx.Done():
		}
		return
	}
	defer func() { _ = kw.Stop() }()
	seen := false // an initial value arrived
	for {
		select {
		case e, ok := <-kw.Updates():
			switch {
			case !ok:
				return
			case e == nil:
				// The end of the initial values: with none, the key is gone.
				if !seen {
					return
				}
			case e.Operation() != jetstream.KeyValuePut:
				return // released or expired
			default:
				if rec, err := decodeRecord(e.Value()); err != nil || rec.kind != kindClaim {
					return
				}
				seen = true // a claim or its renewal: still running
			}
		case <-ctx.Done():
			return
		}
	}
}

var errNotConnected = errors.New("kvstore: begin: not connected to NATS")

// storeError wraps err from op, as idempotency.ErrStoreFull when the bucket is
// out of space.
func storeError(op string, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeStoreFailed &&
		(apiErr.Description == "maximum bytes exceeded" || apiErr.Description == "maximum messages exceeded") {
		return fmt.Errorf("kvstore: %s: %w: %w", op, idempotency.ErrStoreFull, err)
	}
	return fmt.Errorf("kvstore: %s: %w", op, err)
}

// errCodeStoreFailed is JetStream's error code for a write the stream
// refused to store (nats-server JSStreamStoreFailedF); nats.go has no name
// for it.
const errCodeStoreFailed jetstream.ErrorCode = 10077

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
