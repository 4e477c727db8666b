package idempotency

import (
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/fieldname"
)

// Defaults applied to zero fields of Options.
const (
	DefaultTTL              = 24 * time.Hour
	DefaultMaxEntries       = 10_000
	DefaultMaxResponseBytes = 1 << 20
	DefaultMaxStoredBytes   = 64 << 20
	DefaultMaxKeyLength     = 255
	DefaultWaitTimeout      = 10 * time.Second
)

// Values of Options.OnConcurrent.
const (
	// Wait makes a duplicate that arrives while the first request runs
	// wait for it (at most WaitTimeout) and then get the same answer.
	Wait = "wait"
	// Conflict answers such a duplicate 409 Conflict at once.
	Conflict = "conflict"
)

// Header names used by Handler.
const (
	// KeyHeader is the request header that carries the client's key.
	KeyHeader = "Idempotency-Key"
	// ReplayedHeader is set to "true" on every replayed response, so a
	// client (and a test) can tell a replay from a first execution.
	ReplayedHeader = "Idempotent-Replayed"
)

// Errors of key validation and of Store.Begin. Handle maps them to
// statuses itself: invalid keys to 400, ErrStoreFull to 503.
var (
	// ErrKeyInvalid means the key is empty or holds a byte outside
	// printable ASCII (0x20-0x7E).
	ErrKeyInvalid = errors.New("invalid idempotency key")
	// ErrKeyTooLong means the key is longer than MaxKeyLength bytes.
	ErrKeyTooLong = errors.New("idempotency key too long")
	// ErrStoreFull means every slot of the store holds a request still
	// running, so a new key cannot be admitted without forgetting one that must
	// not be forgotten.
	ErrStoreFull = errors.New("idempotency store full of in-flight requests")
)

// Options configures NewMemoryStore (TTL, MaxEntries,
// MaxResponseBytes, MaxStoredBytes, Now) and NewHandler (MaxKeyLength,
// MaxResponseBytes, OnConcurrent, WaitTimeout). One struct serves both so that
// wiring reads one config table. The zero value means every default below;
// negative values are rejected by the constructors.
type Options struct {
	// TTL is how long a completed response is kept and replayed, counted from
	// its completion. Default 24h.
	TTL time.Duration
	// MaxEntries caps the keys held, in flight and completed together. When full,
	// the oldest completed entries are evicted; in-flight entries never are, so
	// a store full of in-flight entries refuses new keys with
	// ErrStoreFull (Handle answers 503). Default 10,000.
	MaxEntries int
	// MaxResponseBytes caps one stored response: body plus header names and
	// values. A larger response is delivered to its client but not stored; the
	// key is released, so a later duplicate runs the handler again (the route's
	// handler must then be idempotent itself). Default 1 MiB.
	MaxResponseBytes int
	// MaxStoredBytes caps the bytes of all stored responses together; the oldest
	// completed entries are evicted to fit. It keeps MaxEntries×MaxResponseBytes
	// (10 GiB with the defaults) from being the real bound. Default 64 MiB; it is
	// raised to MaxResponseBytes if smaller.
	MaxStoredBytes int
	// MaxKeyLength is the longest Idempotency-Key accepted, in bytes; longer keys
	// get 400. Default 255.
	MaxKeyLength int
	// OnConcurrent is Wait (default) or Conflict.
	OnConcurrent string
	// WaitTimeout bounds how long a duplicate waits, in wait mode, for the first
	// request to finish; past it the duplicate gets 409. Measured on the real
	// clock, not Now. Default 10s.
	WaitTimeout time.Duration
	// Now is the clock for TTLs. Default time.Now; tests pass a fake.
	Now func() time.Time
}

func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.TTL < 0 {
		errs = append(errs, errors.New("ttl: must be >= 0"))
	}
	if o.MaxEntries < 0 {
		errs = append(errs, errors.New("max_entries: must be >= 0"))
	}
	if o.MaxResponseBytes < 0 {
		errs = append(errs, errors.New("max_response_bytes: must be >= 0"))
	}
	if o.MaxStoredBytes < 0 {
		errs = append(errs, errors.New("max_stored_bytes: must be >= 0"))
	}
	if o.MaxKeyLength < 0 {
		errs = append(errs, errors.New("max_key_length: must be >= 0"))
	}
	if o.WaitTimeout < 0 {
		errs = append(errs, errors.New("wait_timeout: must be >= 0"))
	}
	switch o.OnConcurrent {
	case "":
		o.OnConcurrent = Wait
	case Wait, Conflict:
	default:
		errs = append(errs, fmt.Errorf("on_concurrent: %q is neither %q nor %q", o.OnConcurrent, Wait, Conflict))
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("idempotency: %w", errors.Join(errs...))
	}
	o.TTL = orDuration(o.TTL, DefaultTTL)
	o.WaitTimeout = orDuration(o.WaitTimeout, DefaultWaitTimeout)
	o.MaxEntries = orPositive(o.MaxEntries, DefaultMaxEntries)
	o.MaxResponseBytes = orPositive(o.MaxResponseBytes, DefaultMaxResponseBytes)
	o.MaxStoredBytes = max(orPositive(o.MaxStoredBytes, DefaultMaxStoredBytes), o.MaxResponseBytes)
	o.MaxKeyLength = orPositive(o.MaxKeyLength, DefaultMaxKeyLength)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func orPositive(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// StoredHeader is one response header field kept by an Store.
type StoredHeader struct {
	Name, Value []byte
}

// StoredResponse is a response kept for replay. A store shares one value among
// all replays: treat it, and every slice in it, as read-only.
type StoredResponse struct {
	// StatusCode is the HTTP status, never 5xx (those are not stored).
	StatusCode int
	// Header lists the end-to-end fields in order, without hop-by-hop fields,
	// Content-Length, Date, Server or Set-Cookie.
	Header []StoredHeader
	// Body is the complete body, as sent (possibly content-encoded).
	Body []byte
}

// Size is the bytes the response occupies for MaxResponseBytes and
// MaxStoredBytes: body plus header names and values.
func (r *StoredResponse) Size() int {
	n := len(r.Body)
	for _, h := range r.Header {
		n += len(h.Name) + len(h.Value)
	}
	return n
}

// State is the outcome of Store.Begin.
type State uint8

const (
	// StateNew: the key was unknown and is now in flight for the caller,
	// which must run the request and then call Complete or Abort exactly once.
	StateNew State = iota
	// StateReplay: the key completed; Begin.Response holds the
	// answer to replay.
	StateReplay
	// StateInFlight: another request holds the key; Begin.Done
	// is closed when it completes or aborts, after which the caller calls Begin
	// again.
	StateInFlight
	// StateMismatch: the key is held (in flight or completed) by a
	// request with another fingerprint; Handle answers 422.
	StateMismatch
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateNew:
		return "new"
	case StateReplay:
		return "replay"
	case StateInFlight:
		return "in_flight"
	case StateMismatch:
		return "mismatch"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Begin is the result of Store.Begin.
type Begin struct {
	State State
	// Response is set for StateReplay; read-only.
	Response *StoredResponse
	// Done is set for StateInFlight.
	Done <-chan struct{}
}

// Store records which idempotency keys are in flight or completed.
// The in-memory default is NewMemoryStore; a store shared between
// edged instances can replace it. Implementations must be safe for concurrent
// use.
//
// Keys are opaque to the store. The caller namespaces them by route and client
// identity (Handler.Handle uses its scope, a 0 byte and the header's value), so
// two clients that pick the same key neither collide nor see each other's
// responses. A key is lent for the call only: the caller reuses its bytes
// afterwards, so a store that keeps a key copies it (string(key)). Lending
// the bytes lets a replay, the common duplicate, run without allocating.
//
// The fingerprint identifies the request (Handle: sha256 of method, request URI
// and body); the same key with another fingerprint is StateMismatch.
type Store interface {
	// Begin claims key, or reports who holds it. It returns
	// ErrStoreFull when a new key cannot be admitted.
	Begin(ctx context.Context, key []byte, fingerprint [32]byte) (Begin, error)
	// Complete stores resp under key, which the caller claimed with Begin, and
	// wakes the waiters, who then replay it. The store keeps resp (does not copy
	// it); the caller must not modify it afterwards.
	Complete(ctx context.Context, key []byte, resp *StoredResponse) error
	// Abort releases key, which the caller claimed with Begin, without storing
	// a response (the request failed, answered 5xx, or its response was too
	// large). Waiters are woken and call Begin again: the first of them runs the
	// request, the others wait for it in turn. Abort is how a client's retry
	// after a failure gets a fresh attempt.
	Abort(ctx context.Context, key []byte) error
}

// Compile-time check that the default store satisfies the interface.
var _ Store = (*MemoryStore)(nil)

// MemoryStore is the in-memory Store: a map bounded by
// MaxEntries and MaxStoredBytes, with completed entries kept in completion
// order so that the oldest is both the first to expire and the first evicted.
// Expired entries are dropped lazily by Begin. It is safe for concurrent use.
type MemoryStore struct {
	ttl           time.Duration
	maxEntries    int
	maxResponse   int
	maxStored     int
	now           func() time.Time
	mu            sync.Mutex
	entries       map[string]*entry
	completed     list.List // of *entry, oldest completion first
	storedBytes   int
	inFlightCount int
}

type entry struct {
	key         string
	fingerprint [32]byte
	done        chan struct{} // closed on Complete or Abort
	resp        *StoredResponse
	expires     time.Time
	elem        *list.Element // in completed; nil while in flight
	size        int
}

// NewMemoryStore returns an empty in-memory store configured by o
// (TTL, MaxEntries, MaxResponseBytes, MaxStoredBytes, Now; see
// Options). It fails only on negative or unknown option values.
func NewMemoryStore(o Options) (*MemoryStore, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return &MemoryStore{
		ttl:         o.TTL,
		maxEntries:  o.MaxEntries,
		maxResponse: o.MaxResponseBytes,
		maxStored:   o.MaxStoredBytes,
		now:         o.Now,
		entries:     make(map[string]*entry),
	}, nil
}

// Begin implements Store. It never blocks on other requests.
func (s *MemoryStore) Begin(_ context.Context, key []byte, fp [32]byte) (Begin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now())
	if e, ok := s.entries[string(key)]; ok {
		switch {
		case e.fingerprint != fp:
			return Begin{State: StateMismatch}, nil
		case e.elem == nil:
			return Begin{State: StateInFlight, Done: e.done}, nil
		default:
			return Begin{State: StateReplay, Response: e.resp}, nil
		}
	}
	for len(s.entries) >= s.maxEntries {
		if !s.evictOldestLocked() {
			return Begin{}, ErrStoreFull
		}
	}
	k := string(key) // the copy the store keeps
	s.entries[k] = &entry{key: k, fingerprint: fp, done: make(chan struct{})}
	s.inFlightCount++
	return Begin{State: StateNew}, nil
}

// Complete implements Store. A response larger than
// MaxResponseBytes, or a key not in flight, releases the key as Abort does.
func (s *MemoryStore) Complete(_ context.Context, key []byte, resp *StoredResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[string(key)]
	if !ok || e.elem != nil {
		return fmt.Errorf("complete %q: key not in flight", key)
	}
	size := resp.Size()
	if size > s.maxResponse {
		s.releaseLocked(e)
		return nil
	}
	s.inFlightCount--
	e.resp, e.size = resp, size
	e.expires = s.now().Add(s.ttl)
	e.elem = s.completed.PushBack(e)
	s.storedBytes += size
	for s.storedBytes > s.maxStored && s.evictOldestLocked() {
	}
	close(e.done)
	return nil
}

// Abort implements Store.
func (s *MemoryStore) Abort(_ context.Context, key []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[string(key)]
	if !ok || e.elem != nil {
		return fmt.Errorf("abort %q: key not in flight", key)
	}
	s.releaseLocked(e)
	return nil
}

// Len returns the number of keys held, in flight and completed (expired ones
// not yet dropped included), for metrics and tests.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// InFlight returns the number of keys whose first request is still running.
func (s *MemoryStore) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlightCount
}

// StoredBytes returns the bytes of the stored responses (see
// StoredResponse.Size), for metrics and tests.
func (s *MemoryStore) StoredBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storedBytes
}

// releaseLocked forgets an in-flight entry and wakes its waiters.
func (s *MemoryStore) releaseLocked(e *entry) {
	delete(s.entries, e.key)
	s.inFlightCount--
	close(e.done)
}

// expireLocked drops completed entries whose TTL has passed. TTLs are equal,
// so completion order is expiry order and only the front needs looking at.
func (s *MemoryStore) expireLocked(now time.Time) {
	for f := s.completed.Front(); f != nil; f = s.completed.Front() {
		if e := f.Value.(*entry); now.Before(e.expires) {
			return
		}
		s.evictOldestLocked()
	}
}

// evictOldestLocked drops the oldest completed entry; false if there is none.
func (s *MemoryStore) evictOldestLocked() bool {
	f := s.completed.Front()
	if f == nil {
		return false
	}
	e := s.completed.Remove(f).(*entry)
	delete(s.entries, e.key)
	s.storedBytes -= e.size
	return true
}

// Next is what Handle runs for a request that executes: the rest of the
// pipeline. Handle takes an interface, not a closure, so that a caller can
// hand over a value it already has (the router passes its pooled per-request
// exchange) and the idempotent path allocates no closure per request.
type Next interface {
	ServeNext(ctx *fasthttp.RequestCtx)
}

// NextFunc adapts a function to Next. Converting a function to Next does
// not allocate; a closure that captures variables allocates where it is made,
// so the hot path should pass a long-lived value instead.
type NextFunc func(ctx *fasthttp.RequestCtx)

// ServeNext calls f(ctx).
func (f NextFunc) ServeNext(ctx *fasthttp.RequestCtx) { f(ctx) }

// Handler applies idempotency keys in the request pipeline. It is safe for
// concurrent use. Create it with NewHandler.
type Handler struct {
	store       Store
	maxKey      int
	maxResponse int
	conflict    bool
	waitTimeout time.Duration
	badKeyMsg   string       // the message of a 400 for a bad key, made once
	waiting     atomic.Int64 // duplicates blocked in Handle on a running request
	scratch     sync.Pool    // *scratch
}

// scratch is the per-request working space of Handle, pooled so that a
// request does not allocate its store key or its fingerprint's hash state.
type scratch struct {
	key  []byte
	sum  hash.Hash // SHA-256
	out  [sha256.Size]byte
	zero [1]byte // the separator of fingerprinted fields
}

// NewHandler returns a Handler over store, configured by o (MaxKeyLength,
// MaxResponseBytes, OnConcurrent, WaitTimeout). A nil store means
// NewMemoryStore(o). It fails only on negative or unknown option values.
func NewHandler(store Store, o Options) (*Handler, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if store == nil {
		if store, err = NewMemoryStore(o); err != nil {
			return nil, err
		}
	}
	return &Handler{
		store:       store,
		maxKey:      o.MaxKeyLength,
		maxResponse: o.MaxResponseBytes,
		conflict:    o.OnConcurrent == Conflict,
		waitTimeout: o.WaitTimeout,
		badKeyMsg:   "Idempotency-Key must be 1 to " + strconv.Itoa(o.MaxKeyLength) + " printable ASCII characters",
	}, nil
}

// Handle serves ctx through next, applying the Idempotency-Key header.
//
// Requests other than POST, PUT and PATCH (see AppliesTo), and those without
// the header, go straight to next. Otherwise:
//
//   - a key that is empty, repeated, longer than MaxKeyLength or not printable
//     ASCII gets 400;
//   - a new key runs next once; its response is stored unless it is 5xx, 408,
//     425 or 429 (transient: the client should retry and the retry should run),
//     larger than MaxResponseBytes, or streamed without a Content-Length; in
//     those cases the key is released and a duplicate runs next again;
//   - a duplicate of a completed request gets the stored response with
//     Idempotent-Replayed: true;
//   - a duplicate of a running request waits for it (at most WaitTimeout, then
//     409) or, with OnConcurrent "conflict", gets 409 at once;
//   - the same key with another method, URI or body gets 422;
//   - a store full of running requests gives 503 with Retry-After: 1 (the
//     store is out of capacity, not this client over a rate: that is the rate
//     limiter's job).
//
// scope namespaces keys: pass the route name and the verified client identity
// (API key id, JWT subject, or client address), so that clients do not share
// keys. Handle copies it and does not keep it. Error answers have a short
// JSON body.
//
// Stored headers omit hop-by-hop fields, Content-Length, Date and Server
// (regenerated) and Set-Cookie: a replay must not hand out a session minted for
// the first request, which matters when identity is only a shared address.
//
// A replay allocates nothing (with MemoryStore); a first execution allocates
// what the store keeps: the key, its entry and one copy of the response.
func (h *Handler) Handle(ctx *fasthttp.RequestCtx, scope []byte, next Next) {
	if !AppliesTo(ctx.Method()) {
		next.ServeNext(ctx)
		return
	}
	raw, n := peekKey(&ctx.Request.Header)
	if n == 0 {
		next.ServeNext(ctx)
		return
	}
	if n > 1 {
		writeError(ctx, fasthttp.StatusBadRequest, "invalid_idempotency_key", "more than one Idempotency-Key header")
		return
	}
	if !validKey(raw, h.maxKey) {
		writeError(ctx, fasthttp.StatusBadRequest, "invalid_idempotency_key", h.badKeyMsg)
		return
	}
	sc := h.getScratch()
	defer h.scratch.Put(sc)
	sc.key = append(append(append(sc.key[:0], scope...), 0), raw...)
	h.serve(ctx, sc.key, sc.fingerprint(ctx), next)
}

// getScratch returns a pooled scratch, or a new one.
func (h *Handler) getScratch() *scratch {
	if sc, ok := h.scratch.Get().(*scratch); ok {
		return sc
	}
	return &scratch{sum: sha256.New()}
}

// serve claims key in the store and answers ctx as its state says.
func (h *Handler) serve(ctx *fasthttp.RequestCtx, key []byte, fp [32]byte, next Next) {
	var timeout <-chan time.Time
	for {
		b, err := h.store.Begin(ctx, key, fp)
		if err != nil {
			writeError(ctx, fasthttp.StatusServiceUnavailable, "idempotency_unavailable", "too many requests in progress; retry later")
			ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
			return
		}
		switch b.State {
		case StateNew:
			h.run(ctx, key, next)
			return
		case StateReplay:
			replayStored(ctx, b.Response)
			return
		case StateMismatch:
			writeError(ctx, fasthttp.StatusUnprocessableEntity, "idempotency_key_reused", "Idempotency-Key was used with a different request")
			return
		case StateInFlight:
			if h.conflict {
				writeError(ctx, fasthttp.StatusConflict, "idempotency_in_progress", "a request with this Idempotency-Key is in progress")
				return
			}
			if timeout == nil {
				// One timer for the whole wait, however many times the key is
				// released and re-claimed by another waiter. It is the one
				// allocation of waiting, which only a duplicate of a running
				// request pays.
				t := time.NewTimer(h.waitTimeout)
				defer t.Stop()
				timeout = t.C
			}
			h.waiting.Add(1)
			select {
			case <-b.Done:
				h.waiting.Add(-1)
			case <-timeout:
				h.waiting.Add(-1)
				writeError(ctx, fasthttp.StatusConflict, "idempotency_in_progress", "a request with this Idempotency-Key is still in progress")
				return
			case <-ctx.Done(): // server shutting down
				h.waiting.Add(-1)
				writeError(ctx, fasthttp.StatusServiceUnavailable, "shutting_down", "server shutting down")
				return
			}
		default:
			writeError(ctx, fasthttp.StatusInternalServerError, "idempotency_store", "unexpected idempotency store state")
			return
		}
	}
}

// Waiting returns how many duplicates are blocked right now waiting for the
// request that holds their key (OnConcurrent "wait"), for metrics and tests.
func (h *Handler) Waiting() int { return int(h.waiting.Load()) }

// Store returns the store h keeps keys in, for metrics (MemoryStore.InFlight)
// and tests.
func (h *Handler) Store() Store { return h.store }

// run executes next for a key this request holds and completes or releases
// the key. A panic in next releases the key before it propagates, so waiters
// are not stranded.
func (h *Handler) run(ctx *fasthttp.RequestCtx, key []byte, next Next) {
	settled := false
	defer func() {
		if !settled {
			_ = h.store.Abort(ctx, key)
		}
	}()
	next.ServeNext(ctx)
	resp := captureResponse(&ctx.Response, h.maxResponse)
	settled = true
	if resp == nil {
		_ = h.store.Abort(ctx, key)
		return
	}
	// A store error leaves nothing stored; the answer already produced stands.
	_ = h.store.Complete(ctx, key, resp)
}

// AppliesTo reports whether m is a method idempotency keys apply to.
func AppliesTo(m []byte) bool {
	return string(m) == fasthttp.MethodPost || string(m) == fasthttp.MethodPut || string(m) == fasthttp.MethodPatch
}

// peekKey returns the first Idempotency-Key value and how many there
// are, whatever the spelling of the name (header names are not normalised; see
// docs/proxy.md trap 1).
func peekKey(h *fasthttp.RequestHeader) (v []byte, n int) {
	for k, val := range h.All() {
		if fieldname.Equal(k, KeyHeader) {
			if n == 0 {
				v = val
			}
			n++
		}
	}
	return v, n
}

// validateKey accepts 1 to maxLen bytes of printable ASCII
// (0x20-0x7E). The length is checked first, so an absurd key costs nothing
// more to reject.
func validateKey(k []byte, maxLen int) error {
	if validKey(k, maxLen) {
		return nil
	}
	if len(k) > maxLen {
		return fmt.Errorf("idempotency key of %d bytes: %w", len(k), ErrKeyTooLong)
	}
	if len(k) == 0 {
		return fmt.Errorf("empty idempotency key: %w", ErrKeyInvalid)
	}
	for j, c := range k {
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("idempotency key byte %d is %#x: %w", j, c, ErrKeyInvalid)
		}
	}
	return nil
}

// validKey is validateKey's verdict without the error, which Handle does not
// need: a refused key costs no allocation.
func validKey(k []byte, maxLen int) bool {
	if len(k) == 0 || len(k) > maxLen {
		return false
	}
	for _, c := range k {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// fingerprint hashes what makes two requests "the same": method, request URI
// (path and query) and body, with separators so fields cannot run together.
// It reuses sc's hash state and buffers, so it does not allocate.
func (sc *scratch) fingerprint(ctx *fasthttp.RequestCtx) [32]byte {
	h := sc.sum
	h.Reset()
	h.Write(ctx.Method())
	h.Write(sc.zero[:])
	h.Write(ctx.Request.Header.RequestURI())
	h.Write(sc.zero[:])
	h.Write(ctx.Request.Body())
	return [32]byte(h.Sum(sc.out[:0]))
}

// unstored are response fields not kept for replay: hop-by-hop fields,
// fields the server regenerates, and Set-Cookie (see Handle).
var unstored = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"TE", "Trailer", "Transfer-Encoding", "Upgrade",
	"Content-Length", "Date", "Server", "Set-Cookie",
}

func storedField(name []byte) bool {
	for _, u := range unstored {
		if fieldname.Equal(name, u) {
			return false
		}
	}
	return true
}

// transient reports statuses not stored because a retry may succeed.
func transient(code int) bool {
	const tooEarly = 425 // RFC 8470; fasthttp has no constant
	return code >= 500 || code == fasthttp.StatusRequestTimeout ||
		code == tooEarly || code == fasthttp.StatusTooManyRequests
}

// captureResponse copies resp for storage, or returns nil when it must not be
// stored. A streamed body with a Content-Length up to maxBytes is read into
// memory (and resp then carries it as a plain body); a longer or unknown-length
// stream is left untouched, as buffering it would hold up to the whole body.
func captureResponse(resp *fasthttp.Response, maxBytes int) *StoredResponse {
	code := resp.StatusCode()
	if transient(code) {
		return nil
	}
	if resp.IsBodyStream() {
		cl := resp.Header.ContentLength()
		if cl < 0 || cl > maxBytes {
			return nil
		}
		body := make([]byte, cl)
		if _, err := io.ReadFull(resp.BodyStream(), body); err != nil {
			// The producer broke mid-body: answer as a proxy would.
			resp.Reset()
			resp.SetStatusCode(fasthttp.StatusBadGateway)
			return nil
		}
		resp.SetBody(body) // closes the drained stream
	}
	body := resp.Body()
	if len(body) > maxBytes {
		return nil
	}
	// One pass to size and check, one to copy into a single buffer: a stored
	// response costs three allocations (the response, its header list, its
	// bytes) however many fields it has.
	size, fields := len(body), 0
	for k, v := range resp.Header.All() {
		if !storedField(k) {
			continue
		}
		if size += len(k) + len(v); size > maxBytes {
			return nil
		}
		fields++
	}
	buf := make([]byte, 0, size)
	sr := &StoredResponse{StatusCode: code, Header: make([]StoredHeader, 0, fields)}
	for k, v := range resp.Header.All() {
		if !storedField(k) {
			continue
		}
		buf = append(buf, k...)
		name := buf[len(buf)-len(k) : len(buf) : len(buf)]
		buf = append(buf, v...)
		sr.Header = append(sr.Header, StoredHeader{Name: name, Value: buf[len(buf)-len(v) : len(buf) : len(buf)]})
	}
	buf = append(buf, body...)
	sr.Body = buf[len(buf)-len(body):]
	return sr
}

// replayStored writes r to ctx as a replay.
func replayStored(ctx *fasthttp.RequestCtx, r *StoredResponse) {
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(r.StatusCode)
	for _, h := range r.Header {
		ctx.Response.Header.AddBytesKV(h.Name, h.Value)
	}
	ctx.Response.Header.Set(ReplayedHeader, "true")
	ctx.Response.SetBody(r.Body)
}

// writeError answers code with {"error":errCode,"message":msg}. Both
// strings are made in this file and need no JSON escaping. The body is
// written in pieces, so that a refusal does not allocate.
func writeError(ctx *fasthttp.RequestCtx, code int, errCode, msg string) {
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(code)
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.SetBodyString(`{"error":"`)
	ctx.Response.AppendBodyString(errCode)
	ctx.Response.AppendBodyString(`","message":"`)
	ctx.Response.AppendBodyString(msg)
	ctx.Response.AppendBodyString(`"}` + "\n")
}
