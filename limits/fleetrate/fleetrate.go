//go:build !noevents

// Package fleetrate is a rate limit shared by a fleet of edged nodes: one
// approximate token bucket per (route, client key) for the whole fleet
// instead of one per node, kept over NATS JetStream.
//
// # How it works
//
// Each node admits requests from its own token bucket (a limits.Limiter with
// the route's rate and burst), so a request never waits for the network.
// Every sync interval a node publishes what each client spent on it since
// the last sync: one message per client key that spent anything, carrying a
// JetStream counter increment (the Nats-Incr header) on the subject
// edged.ratelimit.<route>.<key hash>. The counter stream EDGED_RATELIMIT
// sums them per key on the server: the fleet's total spending of each
// client, readable with `nats stream get`. Every node subscribes to its
// routes' subjects and debits its own bucket of that key with the other
// nodes' increments, as if those requests had been admitted locally; a debit
// may leave a bucket in debt, which the rate pays back before the client is
// admitted again. So each node's bucket refills at the rate and is drained
// by the whole fleet's admissions, the latest of them known one sync
// interval late: the fleet as a whole converges to the configured rate.
//
// Client keys travel as a 64-bit SipHash-2-4 keyed with a secret the fleet
// shares (created once in the KV bucket edged_ratelimit), never in clear: a
// client cannot aim a hash collision at another client's bucket without the
// secret, and addresses and subjects stay out of the stream. Whoever may
// publish on edged.ratelimit.> can drain any client's bucket, so the NATS
// server must be the fleet's own (a token once it listens beyond loopback).
//
// # Error bound
//
// Let R be the rate, B the burst, N the number of nodes and δ the sync
// interval plus the time an increment takes from one node to the others
// (well under a millisecond on a LAN). Over any interval of length L the
// fleet admits for one client at most
//
//	R·L + B + (N-1)·(B + R·δ)
//
// requests, where a single token bucket would admit R·L + B. The overshoot
// (N-1)·(B + R·δ) does not grow with L, so the long-run rate is R; per-node
// limiting instead admits up to N·(R·L + B). Why: take the node whose
// admission came last in the interval. Before that admission its credit was
// at least one token, though it had been refilled by at most R·L, started
// with at most B and been debited with every other node's admissions except
// those of the last δ. Each other node admits at most B + R·δ in any window
// of length δ, since its own bucket holds at most B and refills at R (debits
// only take more). TestFleetErrorBound drives several limiters on one real
// NATS server with a controlled clock and checks the bound.
//
// The bound is reached only when every node holds a full bucket for the
// same client at once and the client spends all of them in the same sync
// interval. A node debits a key it does not track yet (a bucket it then
// starts full), so a client moving between nodes finds its debt there. The
// bound holds while no node evicts the client's bucket (max_clients; an
// evicted key comes back full, as with a node limiter) and the connection
// holds (below).
//
// # When NATS is unreachable
//
// A node that cannot publish drops its increments (it does not replay them
// later: old spending would debit buckets that have refilled since) and goes
// on admitting from its own bucket, so the fleet falls back to per-node
// limiting, up to N times the rate, until the connection returns; Stats
// counts the failed syncs. Increments published while a node was away are
// not delivered to it afterwards, for the same reason. The counter stream
// lives in the server's memory (spending is worth nothing after a restart):
// the first sync after a server restart recreates it and counts as failed,
// though its increments reach the other nodes (TestFleetRecovers).
//
// # Cost
//
// A request pays one SipHash of its key (a few tens of ns for an address)
// on top of a node limiter's work, and no allocation. A sync costs one
// message of about 150 bytes per client key that spent on the node since the
// last sync (at most max_clients), plus one acknowledgement; each node
// receives every node's messages for its routes, its own included. Memory
// is a node limiter's: max_clients buckets of 32 bytes.
package fleetrate

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/limits"
)

// Defaults and bounds, defined once.
const (
	// StreamName is the counter stream holding each key's fleet total.
	StreamName = "EDGED_RATELIMIT"
	// SubjectPrefix starts every counter subject: edged.ratelimit.<route>.<hash>.
	SubjectPrefix = "edged.ratelimit."

	// counterMaxAge drops a key's total once it has been idle that long; a
	// total is for operators, the limiters never read it.
	counterMaxAge = time.Hour
	// counterMaxBytes bounds the stream; the oldest totals go first.
	counterMaxBytes = 64 << 20
	// secretBucket and secretKey hold the fleet's hash key.
	secretBucket = "edged_ratelimit"
	secretKey    = "hash-key"
	// publishTimeout bounds how long a sync waits for the stream to take its
	// messages, and NewLimiter for the server to take its subscription.
	publishTimeout = time.Second
)

// Headers of an increment. incrHeader is JetStream's counter increment.
const (
	incrHeader = "Nats-Incr"
	nodeHeader = "Edged-Node"
)

// ErrUnreachable is returned (wrapped) by Sync when NATS or its JetStream
// did not take the spending: it is dropped and the node limits alone
// meanwhile.
var ErrUnreachable = errors.New("fleetrate: NATS unreachable, limiting per node")

// FleetOptions configures Open. The zero value is usable.
type FleetOptions struct {
	// Replicas of the counter stream and the hash key bucket in a NATS
	// cluster; 0 means 1.
	Replicas int
	// Logger receives sync failures and recoveries; nil discards.
	Logger *slog.Logger
}

// Fleet is one node's membership in the fleet's rate limits: the NATS
// connection, the shared hash key, and a name telling this node's
// increments from the others'. Create it once per process with Open and its
// limiters with NewLimiter.
type Fleet struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	node   string   // random per Fleet, so two processes never share one
	secret [16]byte // the SipHash key of client keys
	k0, k1 uint64   // secret, as sipHash takes it
	log    *slog.Logger
	stream jetstream.StreamConfig // of the counter stream
}

// Open prepares the counter stream and the fleet's hash key (creating them if
// this is the first node) on js's connection.
func Open(ctx context.Context, js jetstream.JetStream, opts FleetOptions) (*Fleet, error) {
	replicas := max(opts.Replicas, 1)
	f := &Fleet{js: js, nc: js.Conn(), log: opts.Logger, stream: jetstream.StreamConfig{
		Name:              StreamName,
		Description:       "edged: fleet rate limits, each client's spending per route (a counter per key)",
		Subjects:          []string{SubjectPrefix + ">"},
		AllowMsgCounter:   true,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: 1, // a counter's last message holds its total
		MaxAge:            counterMaxAge,
		MaxBytes:          counterMaxBytes,
		Storage:           jetstream.MemoryStorage, // spending is worth nothing after a restart
		Replicas:          replicas,
	}}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if err := f.ensureStream(ctx); err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      secretBucket,
		Description: "edged: the fleet's key for hashing rate limit client keys",
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("fleetrate: bucket %s: %w", secretBucket, err)
	}
	if err := f.loadSecret(ctx, kv); err != nil {
		return nil, err
	}
	f.k0, f.k1 = binary.LittleEndian.Uint64(f.secret[:8]), binary.LittleEndian.Uint64(f.secret[8:])
	var id [12]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	f.node = hex.EncodeToString(id[:])
	return f, nil
}

// ensureStream creates the counter stream, or updates it to f's
// configuration. It lives in memory, so a NATS server restarted alone comes
// back without it: a sync that fails while connected calls this again.
func (f *Fleet) ensureStream(ctx context.Context) error {
	if _, err := f.js.CreateOrUpdateStream(ctx, f.stream); err != nil {
		return fmt.Errorf("fleetrate: stream %s: %w", StreamName, err)
	}
	return nil
}

// loadSecret takes the fleet's hash key, creating it if no node has yet: the
// first Create wins and every other node reads its value.
func (f *Fleet) loadSecret(ctx context.Context, kv jetstream.KeyValue) error {
	var fresh [16]byte
	_, _ = rand.Read(fresh[:])
	if _, err := kv.Create(ctx, secretKey, fresh[:]); err == nil {
		f.secret = fresh
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("fleetrate: create the hash key: %w", err)
	}
	e, err := kv.Get(ctx, secretKey)
	if err != nil {
		return fmt.Errorf("fleetrate: read the hash key: %w", err)
	}
	if len(e.Value()) != len(f.secret) {
		return fmt.Errorf("fleetrate: the hash key in %s is %d bytes, want %d", secretBucket, len(e.Value()), len(f.secret))
	}
	copy(f.secret[:], e.Value())
	return nil
}

// Stats counts a limiter's sync traffic.
type Stats struct {
	Published uint64 // increments sent, one per key per sync
	Heard     uint64 // other nodes' increments applied to this node's buckets
	Failed    uint64 // syncs whose spending was dropped (NATS unreachable)
}

// Limiter is a fleet-wide rate limit for one route: a router.RateLimiter.
// Its methods are safe for concurrent use. It holds a sync goroutine and a
// subscription, which Close stops; a Limiter no longer referenced stops
// them too once the garbage collector finds it, so a reload that replaces a
// route's limiter needs no bookkeeping.
type Limiter struct{ l *limiter }

// limiter is a Limiter's state, which the sync goroutine and the
// subscription hold; they never hold the Limiter, so it can be collected.
type limiter struct {
	f      *Fleet
	local  *limits.Limiter
	prefix string // SubjectPrefix + route + "."
	now    func() time.Time
	heard  chan<- struct{}
	sub    *nats.Subscription

	syncMu sync.Mutex     // one Sync at a time
	batch  []limits.Spent // reused by Sync under syncMu

	published, heardN, failed atomic.Uint64
	failing                   atomic.Bool // logs the change, not every tick

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// NewLimiter starts a fleet limiter for opts.Route: it subscribes to the
// other nodes' increments and, unless SyncInterval says otherwise, publishes
// this node's every SyncInterval until Close.
func (f *Fleet) NewLimiter(opts Options) (*Limiter, error) {
	if !validRoute(opts.Route) {
		return nil, fmt.Errorf("fleetrate: route %q: want letters, digits, '-' and '_'", opts.Route)
	}
	interval := opts.SyncInterval
	if interval == 0 {
		interval = DefaultSyncInterval
	}
	if interval < MinSyncInterval || interval > MaxSyncInterval {
		return nil, fmt.Errorf("fleetrate: sync interval %v: want from %v to %v", interval, MinSyncInterval, MaxSyncInterval)
	}
	local, err := limits.NewLimiter(limits.LimiterOptions{Rate: opts.Rate, Burst: opts.Burst, MaxKeys: opts.MaxKeys, Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("fleetrate: %w", err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	l := &limiter{
		f:      f,
		local:  local,
		prefix: SubjectPrefix + opts.Route + ".",
		now:    now,
		heard:  opts.heard,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if l.sub, err = f.nc.Subscribe(l.prefix+"*", l.onIncrement); err != nil {
		return nil, fmt.Errorf("fleetrate: subscribe %s*: %w", l.prefix, err)
	}
	// Once the server has the subscription no increment is missed. Without a
	// connection the limiter starts alone and hears the others when it returns.
	_ = f.nc.FlushTimeout(publishTimeout)
	if opts.manual {
		close(l.done)
	} else {
		go l.run(interval)
	}
	h := &Limiter{l: l}
	runtime.AddCleanup(h, func(l *limiter) { _ = l.close() }, l)
	return h, nil
}

// validRoute accepts what config accepts as a route name, all of which are
// NATS subject tokens.
func validRoute(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Allow is AllowAt at the limiter's clock.
func (h *Limiter) Allow(key []byte) (ok bool, retryAfter time.Duration) {
	return h.AllowAt(key, h.l.now())
}

// AllowAt spends one token of key's bucket on this node, as
// limits.Limiter.AllowAt does; the bucket is also drained by the other
// nodes' spending (see the package's error bound). It does not allocate for
// a tracked key and never waits for the network.
func (h *Limiter) AllowAt(key []byte, now time.Time) (ok bool, retryAfter time.Duration) {
	l := h.l
	return l.local.AllowHashAt(sipHash(l.f.k0, l.f.k1, key), now)
}

// Rate returns the limiter's rate.
func (h *Limiter) Rate() limits.Rate { return h.l.local.Rate() }

// Burst returns the bucket size in effect (after the default).
func (h *Limiter) Burst() int { return h.l.local.Burst() }

// Len returns how many keys this node tracks, its own and those the others
// reported; at most MaxKeys.
func (h *Limiter) Len() int { return h.l.local.Len() }

// Stats returns the limiter's sync counters.
func (h *Limiter) Stats() Stats {
	l := h.l
	return Stats{Published: l.published.Load(), Heard: l.heardN.Load(), Failed: l.failed.Load()}
}

// Sync publishes what each client spent on this node since the last Sync,
// one counter increment per key that spent, and waits until the server has
// them. With NATS unreachable it drops them and returns ErrUnreachable. The
// limiter calls it every SyncInterval; it is exported for tests and for a
// final sync before shutdown.
func (h *Limiter) Sync() error { return h.l.sync() }

// Close stops the sync loop and the subscription. Spending since the last
// sync is not published. It is safe to call twice.
func (h *Limiter) Close() error { return h.l.close() }

// sync is Limiter.Sync.
func (l *limiter) sync() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.batch = l.local.TakeSpent(l.batch[:0])
	if len(l.batch) == 0 {
		return nil
	}
	err := l.publish(l.batch)
	if err != nil && l.f.nc.IsConnected() {
		// Connected but not stored: the stream may be gone with a restarted
		// server. Recreate it for the next sync; this one's spending reached
		// the other nodes anyway, all but its last increment.
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		if serr := l.f.ensureStream(ctx); serr != nil {
			err = errors.Join(err, serr)
		}
		cancel()
	}
	if err != nil {
		l.failed.Add(1)
		if !l.failing.Swap(true) {
			l.f.log.Warn("fleet rate limit: spending not shared, limiting per node", "route", l.prefix, "err", err)
		}
		return err
	}
	if l.failing.Swap(false) {
		l.f.log.Info("fleet rate limit: sharing spending again", "route", l.prefix)
	}
	l.published.Add(uint64(len(l.batch)))
	return nil
}

// publish sends one increment per entry of batch: all but the last as plain
// messages, the last as a JetStream publish whose acknowledgement says the
// stream has stored them all (it takes one connection's messages in order),
// so a sync costs one round trip, not one per key. A message buffered for a
// later reconnect would debit the others with stale spending, so nothing is
// sent while the connection is known to be down; a failure found midway
// leaves at most that one batch to arrive late.
func (l *limiter) publish(batch []limits.Spent) error {
	nc := l.f.nc
	if !nc.IsConnected() {
		return ErrUnreachable
	}
	for i, s := range batch {
		m := &nats.Msg{
			Subject: l.prefix + hashToken(s.Hash),
			Header: nats.Header{
				incrHeader: []string{"+" + strconv.FormatUint(uint64(s.Tokens), 10)},
				nodeHeader: []string{l.f.node},
			},
		}
		if i < len(batch)-1 {
			if err := nc.PublishMsg(m); err != nil {
				return fmt.Errorf("%w: publish: %w", ErrUnreachable, err)
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		_, err := l.f.js.PublishMsg(ctx, m, jetstream.WithRetryAttempts(0))
		cancel()
		if err != nil {
			return fmt.Errorf("%w: publish: %w", ErrUnreachable, err)
		}
	}
	return nil
}

// hashToken is a key hash as a subject token: 16 lower-case hex digits.
func hashToken(h uint64) string {
	var b [16]byte
	const digits = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b[i] = digits[h&0xf]
		h >>= 4
	}
	return string(b[:])
}

// onIncrement applies another node's increment to this node's bucket of the
// key. Messages come from the fleet but are still parsed defensively:
// anything malformed is ignored.
func (l *limiter) onIncrement(m *nats.Msg) {
	if m.Header.Get(nodeHeader) == l.f.node {
		return // spent here, already taken from the bucket
	}
	h, n, ok := parseIncrement(l.prefix, m.Subject, m.Header.Get(incrHeader))
	if !ok {
		return
	}
	l.local.Debit(h, n, l.now())
	l.heardN.Add(1)
	if l.heard != nil {
		l.heard <- struct{}{}
	}
}

// parseIncrement reads an increment published by Sync: the key hash from the
// subject (prefix, then 16 hex digits) and the tokens from the Nats-Incr
// value ("+N", N from 1 to the uint32 maximum).
func parseIncrement(prefix, subject, incr string) (h uint64, tokens uint32, ok bool) {
	tok, found := strings.CutPrefix(subject, prefix)
	if !found || len(tok) != 16 {
		return 0, 0, false
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return 0, 0, false // ParseUint would take upper case and a prefix
		}
	}
	h, err := strconv.ParseUint(tok, 16, 64)
	if err != nil {
		return 0, 0, false
	}
	digits, found := strings.CutPrefix(incr, "+")
	if !found || digits == "" || digits[0] < '1' || digits[0] > '9' {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return 0, 0, false
	}
	return h, uint32(n), true
}

// parseCounter reads a counter message's body, {"val":"N"}.
func parseCounter(body []byte) (uint64, error) {
	var v struct {
		Val string `json:"val"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return 0, fmt.Errorf("fleetrate: counter %q: %w", body, err)
	}
	n, err := strconv.ParseUint(v.Val, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("fleetrate: counter %q: %w", body, err)
	}
	return n, nil
}

// run syncs every interval until Close.
func (l *limiter) run(interval time.Duration) {
	defer close(l.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			_ = l.sync() // counted in Stats and logged on change
		}
	}
}

// close is Limiter.Close, and the cleanup of a collected Limiter.
func (l *limiter) close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		l.closeErr = l.sub.Unsubscribe()
		if errors.Is(l.closeErr, nats.ErrConnectionClosed) {
			l.closeErr = nil
		}
	})
	return l.closeErr
}

// Total returns the fleet's total spending for key on route as the counter
// stream holds it (0 for a key with none in the last hour), for operators and
// tests. It reads the server, so it is not meant for the request path.
func (f *Fleet) Total(ctx context.Context, route string, key []byte) (uint64, error) {
	st, err := f.js.Stream(ctx, StreamName)
	if err != nil {
		return 0, fmt.Errorf("fleetrate: %w", err)
	}
	m, err := st.GetLastMsgForSubject(ctx, SubjectPrefix+route+"."+hashToken(sipHash(f.k0, f.k1, key)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("fleetrate: %w", err)
	}
	return parseCounter(m.Data)
}
