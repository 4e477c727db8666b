package limits

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"strconv"
	"sync"
	"time"
)

// Rate is a number of events allowed per period, as written in router.toml:
// "100/s", "10/m", "5000/h" or "1/100ms". The zero value is no rate at all;
// NewLimiter refuses it, so callers use it to mean "not rate limited".
// Events is in [1, MaxRateEvents] and Per in (0, MaxRatePer] for a valid
// rate (Validate).
type Rate struct {
	Events int
	Per    time.Duration
}

// Bounds of a valid Rate. They keep the limiter's integer arithmetic far from
// overflow and reject values that can only be typing mistakes.
const (
	MaxRateEvents = 1_000_000_000
	MaxRatePer    = 24 * time.Hour
)

var (
	errRateForm   = errors.New(`want EVENTS/PERIOD, e.g. "100/s", "10/m", "5000/h" or "1/100ms"`)
	errRateEvents = fmt.Errorf("events must be a whole number from 1 to %d", MaxRateEvents)
	errRatePer    = fmt.Errorf("period must be s, m, h or a duration above 0 and at most %v", MaxRatePer)
)

// ParseRate parses "EVENTS/PERIOD". EVENTS is a decimal whole number from 1
// to MaxRateEvents with no sign. PERIOD is "s", "m" or "h" (one second,
// minute, hour) or a positive Go duration of at most MaxRatePer ("100ms",
// "10s", "1m30s"). No spaces are allowed. Errors quote s.
func ParseRate(s string) (Rate, error) {
	if s == "" {
		return Rate{}, fmt.Errorf("parse rate %q: %w", s, errEmpty)
	}
	num, per, ok := cutByte(s, '/')
	if !ok {
		return Rate{}, fmt.Errorf("parse rate %q: %w", s, errRateForm)
	}
	if num == "" || num[0] < '0' || num[0] > '9' {
		// strconv would accept a sign; the grammar does not.
		return Rate{}, fmt.Errorf("parse rate %q: %w", s, errRateEvents)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n < 1 || n > MaxRateEvents {
		return Rate{}, fmt.Errorf("parse rate %q: %w", s, errRateEvents)
	}
	var d time.Duration
	switch per {
	case "s":
		d = time.Second
	case "m":
		d = time.Minute
	case "h":
		d = time.Hour
	default:
		if per == "" || per[0] < '0' || per[0] > '9' {
			// Also refuses signs, which time.ParseDuration accepts.
			return Rate{}, fmt.Errorf("parse rate %q: %w", s, errRatePer)
		}
		d, err = time.ParseDuration(per)
		if err != nil {
			return Rate{}, fmt.Errorf("parse rate %q: %w", s, errRatePer)
		}
	}
	r := Rate{Events: int(n), Per: d}
	if err := r.Validate(); err != nil {
		return Rate{}, fmt.Errorf("parse rate %q: %w", s, err)
	}
	return r, nil
}

// cutByte is strings.Cut for a single byte, kept local to avoid importing
// strings for one call.
func cutByte(s string, c byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// Validate reports whether r is usable by a Limiter: Events in
// [1, MaxRateEvents] and Per in (0, MaxRatePer].
func (r Rate) Validate() error {
	if r.Events < 1 || r.Events > MaxRateEvents {
		return errRateEvents
	}
	if r.Per <= 0 || r.Per > MaxRatePer {
		return errRatePer
	}
	return nil
}

// String formats r so that ParseRate gives r back: "100/s", "10/m", "5000/h",
// or the period in time.Duration's format ("1/100ms", "3/1m30s").
func (r Rate) String() string {
	var unit string
	switch r.Per {
	case time.Second:
		unit = "s"
	case time.Minute:
		unit = "m"
	case time.Hour:
		unit = "h"
	default:
		unit = r.Per.String()
	}
	return strconv.Itoa(r.Events) + "/" + unit
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseRate, so a TOML
// string such as rate = "100/s" decodes into a Rate.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalText implements encoding.TextMarshaler; the result parses back to r.
func (r Rate) MarshalText() ([]byte, error) {
	return []byte(r.String()), nil
}

// DefaultMaxKeys is the number of client keys a Limiter tracks when
// LimiterOptions.MaxKeys is zero. Each tracked key costs about 80 bytes
// whatever its length, so the default bounds a limiter at about 8MB.
const DefaultMaxKeys = 100_000

// LimiterOptions configures NewLimiter. The zero value of each field except
// Rate means its documented default; Rate is required.
type LimiterOptions struct {
	// Rate is the sustained rate each key may reach. Required (Validate).
	Rate Rate

	// Burst is the bucket size: how many events a key that has been idle
	// may spend at once. Zero means the rate's events per second, rounded
	// up, and at least 1 ("100/s" gives 100, "1/100ms" gives 10, "10/m"
	// gives 1). Negative is an error.
	Burst int

	// MaxKeys bounds how many keys are tracked at once, and so the memory
	// used (see Limiter). Zero means DefaultMaxKeys; negative is an error.
	MaxKeys int

	// Now is the clock; nil means time.Now. Tests pass a fake clock. It must
	// be safe for concurrent use and should be monotonic (time.Now is);
	// a clock that goes backwards only delays refills.
	Now func() time.Time
}

// Limiter is a token-bucket rate limiter keyed by client: an API key, a JWT
// subject or a client address, as the caller chooses. Each key has a bucket
// of Burst tokens that refills at Rate; Allow spends one token. All methods
// are safe for concurrent use. Create it with NewLimiter.
//
// # Memory
//
// A Limiter tracks at most MaxKeys keys (rounded down to a multiple of its
// shard count), about 80 bytes each (a 32-byte bucket and its map entry).
// Keys are not stored: a bucket is found by a 64-bit hash of the key with a
// random per-Limiter seed, so a long key
// costs no more than a short one and a flood of distinct keys never grows
// memory past the bound. Two distinct keys share a bucket only if their
// hashes collide, which among n tracked keys happens with probability about
// n²/2⁶⁵ (3·10⁻¹⁰ at 100,000 keys) and cannot be aimed at a victim without
// knowing the seed; the cost of a collision is a shared limit, never an
// error.
//
// # Eviction
//
// When a shard is full, a new key replaces an old one chosen by a CLOCK
// sweep with several chances, which approximates evicting the least recently
// used key at O(1) cost and without a list to update on every request. A
// bucket that would be full by now carries no information (a new bucket
// starts full) and is taken wherever the sweep finds one. Otherwise each
// request for a tracked key gives it 3 chances, the sweep takes one per
// pass, and a bucket is replaced when the sweep finds it with none. New keys
// start with none, so a flood of one-off keys mostly replaces its own keys,
// while a key with at least one request per three sweeps of its shard (about
// 3·MaxKeys new keys across the limiter) is never evicted.
//
// The trade-off: an evicted key comes back with a full bucket. A key in
// steady use is evicted only by a flood of about 3·MaxKeys distinct keys
// arriving between two of its requests; an idle key loses at most the
// tokens it had yet to regain. Callers that key by client address should key
// IPv6 clients by prefix (a /64), since distinct addresses are cheap there.
type Limiter struct {
	seed   maphash.Seed
	shards []limiterShard
	shift  uint // 64 - log2(len(shards)); shards are picked by high hash bits

	events   int64 // Rate.Events
	per      int64 // Rate.Per in ns: the credit one token costs
	capacity int64 // Burst*per: credit of a full bucket
	fill     int64 // ns for an empty bucket to refill: ceil(capacity/events)
	burst    int

	epoch time.Time
	now   func() time.Time
}

// bucket is one key's state. Credit is kept in units of 1/per of a token, so
// a refill over e ns adds exactly e*events credit and no rounding drifts.
// Spent fits in what would be padding, so a bucket stays 32 bytes.
type bucket struct {
	key     uint64 // hash of the client key
	last    int64  // ns since the Limiter's epoch of the last update
	credit  int64  // in [minCredit, capacity]; one token is per; below 0 only after Debit
	spent   uint32 // tokens spent since the last TakeSpent, saturating
	chances uint8  // CLOCK chances left, 0..maxChances
}

// minCredit is the floor of a bucket's credit. Only Debit goes below zero
// (a fleet's debt, see Debit); the floor keeps capacity-minCredit+events
// far from overflow (capacity is at most MaxInt64/4) and is never reached by
// a debt that real traffic can run up.
const minCredit = -math.MaxInt64 / 4

// maxChances is how many sweeps a bucket survives after its last request.
const maxChances = 3

// maxShards bounds the shard count; minShardKeys keeps each shard's CLOCK
// meaningful for small MaxKeys.
const (
	maxShards    = 64
	minShardKeys = 64
)

// maxMaxKeys keeps bucket positions within int32 in every shard.
const maxMaxKeys = math.MaxInt32

// limiterShard is padded so that neighbouring shards' mutexes do not share a
// cache line.
type limiterShard struct {
	mu      sync.Mutex
	index   map[uint64]int32 // key hash -> position in buckets
	buckets []bucket         // grows up to size, then entries are replaced
	size    int
	hand    int // CLOCK hand into buckets
	_       [64]byte
}

// NewLimiter returns a Limiter for opts, or an error naming the first
// invalid option: a missing or invalid Rate, a negative Burst or MaxKeys, or
// a Burst so large for the Rate's period that the bucket cannot be
// represented.
func NewLimiter(opts LimiterOptions) (*Limiter, error) {
	if err := opts.Rate.Validate(); err != nil {
		return nil, fmt.Errorf("rate %q: %w", opts.Rate.String(), err)
	}
	if opts.Burst < 0 {
		return nil, fmt.Errorf("burst %d: must not be negative", opts.Burst)
	}
	if opts.MaxKeys < 0 || opts.MaxKeys > maxMaxKeys {
		return nil, fmt.Errorf("max keys %d: must be from 0 to %d", opts.MaxKeys, maxMaxKeys)
	}
	events := int64(opts.Rate.Events)
	per := int64(opts.Rate.Per)
	burst := opts.Burst
	if burst == 0 {
		// events*1e9 fits: events <= 1e9.
		b := (events*int64(time.Second) + per - 1) / per
		if b > math.MaxInt32 {
			b = math.MaxInt32
		}
		burst = max(int(b), 1)
	}
	// Refill arithmetic adds up to capacity+events to a credit of at most
	// capacity, so capacity must stay below a quarter of the int64 range.
	hi, capU := bits.Mul64(uint64(burst), uint64(per))
	if hi != 0 || capU > math.MaxInt64/4 {
		return nil, fmt.Errorf("burst %d: too large for a period of %v", burst, opts.Rate.Per)
	}
	capacity := int64(capU)

	maxKeys := opts.MaxKeys
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	n := 1
	for n < maxShards && maxKeys/(n*2) >= minShardKeys {
		n *= 2
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	l := &Limiter{
		seed:     maphash.MakeSeed(),
		shards:   make([]limiterShard, n),
		shift:    uint(64 - bits.TrailingZeros(uint(n))),
		events:   events,
		per:      per,
		capacity: capacity,
		fill:     (capacity + events - 1) / events,
		burst:    burst,
		epoch:    now(),
		now:      now,
	}
	for i := range l.shards {
		s := &l.shards[i]
		s.size = maxKeys / n
		// Grow lazily: most limiters never see MaxKeys clients.
		s.index = make(map[uint64]int32)
	}
	return l, nil
}

// Rate returns the limiter's rate.
func (l *Limiter) Rate() Rate { return Rate{Events: int(l.events), Per: time.Duration(l.per)} }

// Burst returns the bucket size in effect (after the default).
func (l *Limiter) Burst() int { return l.burst }

// MaxKeys returns how many keys the limiter tracks at most (MaxKeys rounded
// down to a multiple of the shard count).
func (l *Limiter) MaxKeys() int { return l.shards[0].size * len(l.shards) }

// Len returns how many keys are tracked now; at most MaxKeys. It locks each
// shard in turn, so it is meant for metrics, not for every request.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}

// Allow spends one token from key's bucket. It returns true if there was
// one; otherwise false and how long until a token is available, which is
// above zero (round it up to whole seconds for Retry-After). A refused call
// spends nothing. key is not retained and may be reused after Allow
// returns. Allow does not allocate for a key already tracked, nor for a new
// key once the limiter has reached MaxKeys.
func (l *Limiter) Allow(key []byte) (ok bool, retryAfter time.Duration) {
	return l.AllowAt(key, l.now())
}

// AllowAt is Allow at the time now instead of LimiterOptions.Now. A server
// that has already read the clock for the request (fasthttp's
// RequestCtx.Time) passes that reading and saves a clock read, which costs
// more than the rest of Allow on some virtual machines. now should come from
// the same clock as LimiterOptions.Now; a now earlier than a key's last
// update counts as no time passing.
func (l *Limiter) AllowAt(key []byte, now time.Time) (ok bool, retryAfter time.Duration) {
	return l.allow(maphash.Bytes(l.seed, key), int64(now.Sub(l.epoch)))
}

// AllowHashAt is AllowAt for a key the caller has hashed itself, for limiters
// of several processes that must agree on a key's identity (a fleet; see
// Debit). The hash should be keyed with a secret, as maphash is here, so
// that a client cannot aim a collision at another's bucket.
func (l *Limiter) AllowHashAt(h uint64, now time.Time) (ok bool, retryAfter time.Duration) {
	return l.allow(h, int64(now.Sub(l.epoch)))
}

// Spent is what TakeSpent reports for one tracked key: its hash (as given to
// AllowHashAt) and the tokens it spent since the previous TakeSpent.
type Spent struct {
	Hash   uint64
	Tokens uint32
}

// TakeSpent appends to dst every tracked key that spent tokens since the
// previous call, with how many (saturating at the uint32 maximum), resets
// those counts and returns the extended slice. Keys are reported by hash:
// it is meant for limiters fed by AllowHashAt. It locks one shard at a
// time, so requests on other shards go on; a key evicted between two calls
// loses its count.
func (l *Limiter) TakeSpent(dst []Spent) []Spent {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for j := range s.buckets {
			if b := &s.buckets[j]; b.spent != 0 {
				dst = append(dst, Spent{Hash: b.key, Tokens: b.spent})
				b.spent = 0
			}
		}
		s.mu.Unlock()
	}
	return dst
}

// Debit takes tokens from the bucket of hash h at now, as if they had been
// spent here, tracking the key if it is not tracked yet (as a newcomer the
// CLOCK evicts first). Unlike Allow it may leave the bucket in debt: the
// key is then refused until the rate has paid the debt back. A fleet of
// limiters debits each with the others' spending so that together they
// approach one rate; the debt is never counted as Spent. Debt is floored
// far below anything real traffic can reach, only to rule out overflow.
func (l *Limiter) Debit(h uint64, tokens uint32, now time.Time) {
	if tokens == 0 {
		return
	}
	t := int64(now.Sub(l.epoch))
	s := &l.shards[h>>l.shift]
	s.mu.Lock()
	var b *bucket
	if i, found := s.index[h]; found {
		b = &s.buckets[i]
		l.refill(b, t)
	} else {
		b = s.insert(l, h, t) // with no chances: remote keys go first
	}
	// tokens*per may overflow; anything past the floor is the floor.
	if hi, d := bits.Mul64(uint64(tokens), uint64(l.per)); hi != 0 || d > uint64(b.credit-minCredit) {
		b.credit = minCredit
	} else {
		b.credit -= int64(d)
	}
	s.mu.Unlock()
}

func (l *Limiter) allow(h uint64, now int64) (ok bool, retryAfter time.Duration) {
	s := &l.shards[h>>l.shift] // shift 64 (one shard) gives 0

	s.mu.Lock()
	var b *bucket
	if i, found := s.index[h]; found {
		b = &s.buckets[i]
		b.chances = maxChances
		l.refill(b, now)
	} else {
		b = s.insert(l, h, now)
	}
	if b.credit >= l.per {
		b.credit -= l.per
		if b.spent != math.MaxUint32 {
			b.spent++
		}
		s.mu.Unlock()
		return true, 0
	}
	missing := l.per - b.credit
	s.mu.Unlock()
	// Ceiling, so that retrying after exactly retryAfter succeeds.
	return false, time.Duration((missing + l.events - 1) / l.events)
}

// refill brings b's credit up to date at now.
func (l *Limiter) refill(b *bucket, now int64) {
	elapsed := now - b.last
	if elapsed <= 0 {
		// A concurrent caller read the clock later and got the lock first,
		// or the clock went backwards: keep time moving forwards only.
		return
	}
	if l.full(b, now) {
		b.credit = l.capacity
	} else {
		// Not full, so elapsed*events < capacity-credit: no overflow.
		b.credit += elapsed * l.events
	}
	b.last = now
}

// full reports whether b would be a full bucket at now, so that dropping it
// loses nothing. A bucket without debt refills within fill ns; one in debt
// (Debit) needs the debt's time on top.
func (l *Limiter) full(b *bucket, now int64) bool {
	elapsed := now - b.last
	if elapsed >= l.fill && b.credit >= 0 {
		return true
	}
	// need < capacity-minCredit <= MaxInt64/2: neither sum overflows.
	need := l.capacity - b.credit
	return max(elapsed, 0) >= (need+l.events-1)/l.events
}

// insert adds a full bucket for hash h, replacing a victim if the shard is
// full, and returns it. s.mu is held.
func (s *limiterShard) insert(l *Limiter, h uint64, now int64) *bucket {
	nb := bucket{key: h, last: now, credit: l.capacity}
	if len(s.buckets) < s.size {
		s.buckets = append(s.buckets, nb)
		i := len(s.buckets) - 1
		s.index[h] = int32(i)
		return &s.buckets[i]
	}
	// Terminates within maxChances+1 turns, since every step past a bucket
	// takes one of its chances.
	for {
		b := &s.buckets[s.hand]
		if b.chances == 0 || l.full(b, now) {
			break
		}
		b.chances--
		s.hand++
		if s.hand == len(s.buckets) {
			s.hand = 0
		}
	}
	i := s.hand
	delete(s.index, s.buckets[i].key)
	s.buckets[i] = nb
	s.index[h] = int32(i)
	// Move past the newcomer so it gets a whole turn before it is looked at.
	s.hand++
	if s.hand == len(s.buckets) {
		s.hand = 0
	}
	return &s.buckets[i]
}
