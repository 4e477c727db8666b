package router

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Idempotency keys (issue 5, section 3): a POST, PUT or PATCH carrying an
// Idempotency-Key header runs once; its response is kept for a TTL and replayed
// to duplicates, so a payment delivered twice charges the customer once.

// Defaults applied to zero fields of IdempotencyOptions.
const (
	DefaultIdempotencyTTL              = 24 * time.Hour
	DefaultIdempotencyMaxEntries       = 10_000
	DefaultIdempotencyMaxResponseBytes = 1 << 20
	DefaultIdempotencyMaxStoredBytes   = 64 << 20
	DefaultIdempotencyMaxKeyLength     = 255
	DefaultIdempotencyWaitTimeout      = 10 * time.Second
)

// Values of IdempotencyOptions.OnConcurrent.
const (
	// IdempotencyWait makes a duplicate that arrives while the first request runs
	// wait for it (at most WaitTimeout) and then get the same answer.
	IdempotencyWait = "wait"
	// IdempotencyConflict answers such a duplicate 409 Conflict at once.
	IdempotencyConflict = "conflict"
)

// Header names used by Idempotency.
const (
	// IdempotencyKeyHeader is the request header that carries the client's key.
	IdempotencyKeyHeader = "Idempotency-Key"
	// IdempotentReplayedHeader is set to "true" on every replayed response, so a
	// client (and a test) can tell a replay from a first execution.
	IdempotentReplayedHeader = "Idempotent-Replayed"
)

// Errors of key validation and of IdempotencyStore.Begin. Handle maps them to
// statuses itself: invalid keys to 400, ErrIdempotencyStoreFull to 503.
var (
	// ErrIdempotencyKeyInvalid means the key is empty or holds a byte outside
	// printable ASCII (0x20-0x7E).
	ErrIdempotencyKeyInvalid = errors.New("invalid idempotency key")
	// ErrIdempotencyKeyTooLong means the key is longer than MaxKeyLength bytes.
	ErrIdempotencyKeyTooLong = errors.New("idempotency key too long")
	// ErrIdempotencyStoreFull means every slot of the store holds a request still
	// running, so a new key cannot be admitted without forgetting one that must
	// not be forgotten.
	ErrIdempotencyStoreFull = errors.New("idempotency store full of in-flight requests")
)

// IdempotencyOptions configures NewMemoryIdempotencyStore (TTL, MaxEntries,
// MaxResponseBytes, MaxStoredBytes, Now) and NewIdempotency (MaxKeyLength,
// MaxResponseBytes, OnConcurrent, WaitTimeout). One struct serves both so that
// wiring reads one config table. The zero value means every default below;
// negative values are rejected by the constructors.
type IdempotencyOptions struct {
	// TTL is how long a completed response is kept and replayed, counted from
	// its completion. Default 24h.
	TTL time.Duration
	// MaxEntries caps the keys held, in flight and completed together. When full,
	// the oldest completed entries are evicted; in-flight entries never are, so
	// a store full of in-flight entries refuses new keys with
	// ErrIdempotencyStoreFull (Handle answers 503). Default 10,000.
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
	// OnConcurrent is IdempotencyWait (default) or IdempotencyConflict.
	OnConcurrent string
	// WaitTimeout bounds how long a duplicate waits, in wait mode, for the first
	// request to finish; past it the duplicate gets 409. Measured on the real
	// clock, not Now. Default 10s.
	WaitTimeout time.Duration
	// Now is the clock for TTLs. Default time.Now; tests pass a fake.
	Now func() time.Time
}

func (o IdempotencyOptions) withDefaults() (IdempotencyOptions, error) {
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
		o.OnConcurrent = IdempotencyWait
	case IdempotencyWait, IdempotencyConflict:
	default:
		errs = append(errs, fmt.Errorf("on_concurrent: %q is neither %q nor %q", o.OnConcurrent, IdempotencyWait, IdempotencyConflict))
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("idempotency: %w", errors.Join(errs...))
	}
	o.TTL = idemOrDuration(o.TTL, DefaultIdempotencyTTL)
	o.WaitTimeout = idemOrDuration(o.WaitTimeout, DefaultIdempotencyWaitTimeout)
	o.MaxEntries = idemOrPositive(o.MaxEntries, DefaultIdempotencyMaxEntries)
	o.MaxResponseBytes = idemOrPositive(o.MaxResponseBytes, DefaultIdempotencyMaxResponseBytes)
	o.MaxStoredBytes = max(idemOrPositive(o.MaxStoredBytes, DefaultIdempotencyMaxStoredBytes), o.MaxResponseBytes)
	o.MaxKeyLength = idemOrPositive(o.MaxKeyLength, DefaultIdempotencyMaxKeyLength)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

func idemOrDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func idemOrPositive(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// StoredHeader is one response header field kept by an IdempotencyStore.
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

// IdempotencyState is the outcome of IdempotencyStore.Begin.
type IdempotencyState uint8

const (
	// IdempotencyNew: the key was unknown and is now in flight for the caller,
	// which must run the request and then call Complete or Abort exactly once.
	IdempotencyNew IdempotencyState = iota
	// IdempotencyReplay: the key completed; IdempotencyBegin.Response holds the
	// answer to replay.
	IdempotencyReplay
	// IdempotencyInFlight: another request holds the key; IdempotencyBegin.Done
	// is closed when it completes or aborts, after which the caller calls Begin
	// again.
	IdempotencyInFlight
	// IdempotencyMismatch: the key is held (in flight or completed) by a
	// request with another fingerprint; Handle answers 422.
	IdempotencyMismatch
)

// String returns the state's name.
func (s IdempotencyState) String() string {
	switch s {
	case IdempotencyNew:
		return "new"
	case IdempotencyReplay:
		return "replay"
	case IdempotencyInFlight:
		return "in_flight"
	case IdempotencyMismatch:
		return "mismatch"
	}
	return "IdempotencyState(" + strconv.Itoa(int(s)) + ")"
}

// IdempotencyBegin is the result of IdempotencyStore.Begin.
type IdempotencyBegin struct {
	State IdempotencyState
	// Response is set for IdempotencyReplay; read-only.
	Response *StoredResponse
	// Done is set for IdempotencyInFlight.
	Done <-chan struct{}
}

// IdempotencyStore records which idempotency keys are in flight or completed.
// The in-memory default is NewMemoryIdempotencyStore; a store shared between
// edged instances can replace it. Implementations must be safe for concurrent
// use.
//
// Keys are opaque to the store. The caller namespaces them by route and client
// identity (Idempotency.Handle uses routeKey + "\x00" + the header's value), so
// two clients that pick the same key neither collide nor see each other's
// responses.
//
// The fingerprint identifies the request (Handle: sha256 of method, request URI
// and body); the same key with another fingerprint is IdempotencyMismatch.
type IdempotencyStore interface {
	// Begin claims key, or reports who holds it. It returns
	// ErrIdempotencyStoreFull when a new key cannot be admitted.
	Begin(ctx context.Context, key string, fingerprint [32]byte) (IdempotencyBegin, error)
	// Complete stores resp under key, which the caller claimed with Begin, and
	// wakes the waiters, who then replay it. The store keeps resp (does not copy
	// it); the caller must not modify it afterwards.
	Complete(ctx context.Context, key string, resp *StoredResponse) error
	// Abort releases key, which the caller claimed with Begin, without storing
	// a response (the request failed, answered 5xx, or its response was too
	// large). Waiters are woken and call Begin again: the first of them runs the
	// request, the others wait for it in turn. Abort is how a client's retry
	// after a failure gets a fresh attempt.
	Abort(ctx context.Context, key string) error
}

// Compile-time check that the default store satisfies the interface.
var _ IdempotencyStore = (*MemoryIdempotencyStore)(nil)

// MemoryIdempotencyStore is the in-memory IdempotencyStore: a map bounded by
// MaxEntries and MaxStoredBytes, with completed entries kept in completion
// order so that the oldest is both the first to expire and the first evicted.
// Expired entries are dropped lazily by Begin. It is safe for concurrent use.
type MemoryIdempotencyStore struct {
	ttl           time.Duration
	maxEntries    int
	maxResponse   int
	maxStored     int
	now           func() time.Time
	mu            sync.Mutex
	entries       map[string]*idemEntry
	completed     list.List // of *idemEntry, oldest completion first
	storedBytes   int
	inFlightCount int
}

type idemEntry struct {
	key         string
	fingerprint [32]byte
	done        chan struct{} // closed on Complete or Abort
	resp        *StoredResponse
	expires     time.Time
	elem        *list.Element // in completed; nil while in flight
	size        int
}

// NewMemoryIdempotencyStore returns an empty in-memory store configured by o
// (TTL, MaxEntries, MaxResponseBytes, MaxStoredBytes, Now; see
// IdempotencyOptions). It fails only on negative or unknown option values.
func NewMemoryIdempotencyStore(o IdempotencyOptions) (*MemoryIdempotencyStore, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return &MemoryIdempotencyStore{
		ttl:         o.TTL,
		maxEntries:  o.MaxEntries,
		maxResponse: o.MaxResponseBytes,
		maxStored:   o.MaxStoredBytes,
		now:         o.Now,
		entries:     make(map[string]*idemEntry),
	}, nil
}

// Begin implements IdempotencyStore. It never blocks on other requests.
func (s *MemoryIdempotencyStore) Begin(_ context.Context, key string, fp [32]byte) (IdempotencyBegin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now())
	if e, ok := s.entries[key]; ok {
		switch {
		case e.fingerprint != fp:
			return IdempotencyBegin{State: IdempotencyMismatch}, nil
		case e.elem == nil:
			return IdempotencyBegin{State: IdempotencyInFlight, Done: e.done}, nil
		default:
			return IdempotencyBegin{State: IdempotencyReplay, Response: e.resp}, nil
		}
	}
	for len(s.entries) >= s.maxEntries {
		if !s.evictOldestLocked() {
			return IdempotencyBegin{}, ErrIdempotencyStoreFull
		}
	}
	s.entries[key] = &idemEntry{key: key, fingerprint: fp, done: make(chan struct{})}
	s.inFlightCount++
	return IdempotencyBegin{State: IdempotencyNew}, nil
}

// Complete implements IdempotencyStore. A response larger than
// MaxResponseBytes, or a key not in flight, releases the key as Abort does.
func (s *MemoryIdempotencyStore) Complete(_ context.Context, key string, resp *StoredResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
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

// Abort implements IdempotencyStore.
func (s *MemoryIdempotencyStore) Abort(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok || e.elem != nil {
		return fmt.Errorf("abort %q: key not in flight", key)
	}
	s.releaseLocked(e)
	return nil
}

// Len returns the number of keys held, in flight and completed (expired ones
// not yet dropped included), for metrics and tests.
func (s *MemoryIdempotencyStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// InFlight returns the number of keys whose first request is still running.
func (s *MemoryIdempotencyStore) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlightCount
}

// StoredBytes returns the bytes of the stored responses (see
// StoredResponse.Size), for metrics and tests.
func (s *MemoryIdempotencyStore) StoredBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storedBytes
}

// releaseLocked forgets an in-flight entry and wakes its waiters.
func (s *MemoryIdempotencyStore) releaseLocked(e *idemEntry) {
	delete(s.entries, e.key)
	s.inFlightCount--
	close(e.done)
}

// expireLocked drops completed entries whose TTL has passed. TTLs are equal,
// so completion order is expiry order and only the front needs looking at.
func (s *MemoryIdempotencyStore) expireLocked(now time.Time) {
	for f := s.completed.Front(); f != nil; f = s.completed.Front() {
		if e := f.Value.(*idemEntry); now.Before(e.expires) {
			return
		}
		s.evictOldestLocked()
	}
}

// evictOldestLocked drops the oldest completed entry; false if there is none.
func (s *MemoryIdempotencyStore) evictOldestLocked() bool {
	f := s.completed.Front()
	if f == nil {
		return false
	}
	e := s.completed.Remove(f).(*idemEntry)
	delete(s.entries, e.key)
	s.storedBytes -= e.size
	return true
}

// Idempotency applies idempotency keys in the request pipeline. It is safe for
// concurrent use. Create it with NewIdempotency.
type Idempotency struct {
	store       IdempotencyStore
	maxKey      int
	maxResponse int
	conflict    bool
	waitTimeout time.Duration
	waiting     atomic.Int64 // duplicates blocked in Handle on a running request
}

// NewIdempotency returns an Idempotency over store, configured by o
// (MaxKeyLength, MaxResponseBytes, OnConcurrent, WaitTimeout). A nil store means
// NewMemoryIdempotencyStore(o). It fails only on negative or unknown option
// values.
func NewIdempotency(store IdempotencyStore, o IdempotencyOptions) (*Idempotency, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if store == nil {
		if store, err = NewMemoryIdempotencyStore(o); err != nil {
			return nil, err
		}
	}
	return &Idempotency{
		store:       store,
		maxKey:      o.MaxKeyLength,
		maxResponse: o.MaxResponseBytes,
		conflict:    o.OnConcurrent == IdempotencyConflict,
		waitTimeout: o.WaitTimeout,
	}, nil
}

// Handle serves ctx through next, applying the Idempotency-Key header.
//
// Requests other than POST, PUT and PATCH, and those without the header, go
// straight to next. Otherwise:
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
// routeKey namespaces keys: pass the route name and the verified client
// identity (API key id, JWT subject, or client address), so that clients do
// not share keys. Error answers have a short JSON body.
//
// Stored headers omit hop-by-hop fields, Content-Length, Date and Server
// (regenerated) and Set-Cookie: a replay must not hand out a session minted for
// the first request, which matters when identity is only a shared address.
func (i *Idempotency) Handle(ctx *fasthttp.RequestCtx, routeKey string, next func(ctx *fasthttp.RequestCtx)) {
	if !idemMethod(ctx.Method()) {
		next(ctx)
		return
	}
	raw, n := peekIdempotencyKey(&ctx.Request.Header)
	if n == 0 {
		next(ctx)
		return
	}
	if n > 1 {
		writeIdemError(ctx, fasthttp.StatusBadRequest, "invalid_idempotency_key", "more than one Idempotency-Key header")
		return
	}
	if err := validateIdempotencyKey(raw, i.maxKey); err != nil {
		msg := "Idempotency-Key must be 1 to " + strconv.Itoa(i.maxKey) + " printable ASCII characters"
		writeIdemError(ctx, fasthttp.StatusBadRequest, "invalid_idempotency_key", msg)
		return
	}
	key := routeKey + "\x00" + string(raw)
	fp := idemFingerprint(ctx)

	var timeout <-chan time.Time
	for {
		b, err := i.store.Begin(ctx, key, fp)
		if err != nil {
			writeIdemError(ctx, fasthttp.StatusServiceUnavailable, "idempotency_unavailable", "too many requests in progress; retry later")
			ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
			return
		}
		switch b.State {
		case IdempotencyNew:
			i.run(ctx, key, next)
			return
		case IdempotencyReplay:
			replayStored(ctx, b.Response)
			return
		case IdempotencyMismatch:
			writeIdemError(ctx, fasthttp.StatusUnprocessableEntity, "idempotency_key_reused", "Idempotency-Key was used with a different request")
			return
		case IdempotencyInFlight:
			if i.conflict {
				writeIdemError(ctx, fasthttp.StatusConflict, "idempotency_in_progress", "a request with this Idempotency-Key is in progress")
				return
			}
			if timeout == nil {
				// One timer for the whole wait, however many times the key is
				// released and re-claimed by another waiter.
				t := time.NewTimer(i.waitTimeout)
				defer t.Stop()
				timeout = t.C
			}
			i.waiting.Add(1)
			select {
			case <-b.Done:
				i.waiting.Add(-1)
			case <-timeout:
				i.waiting.Add(-1)
				writeIdemError(ctx, fasthttp.StatusConflict, "idempotency_in_progress", "a request with this Idempotency-Key is still in progress")
				return
			case <-ctx.Done(): // server shutting down
				i.waiting.Add(-1)
				writeIdemError(ctx, fasthttp.StatusServiceUnavailable, "shutting_down", "server shutting down")
				return
			}
		default:
			writeIdemError(ctx, fasthttp.StatusInternalServerError, "idempotency_store", "unexpected idempotency store state")
			return
		}
	}
}

// Waiting returns how many duplicates are blocked right now waiting for the
// request that holds their key (OnConcurrent "wait"), for metrics and tests.
func (i *Idempotency) Waiting() int { return int(i.waiting.Load()) }

// run executes next for a key this request holds and completes or releases
// the key. A panic in next releases the key before it propagates, so waiters
// are not stranded.
func (i *Idempotency) run(ctx *fasthttp.RequestCtx, key string, next func(ctx *fasthttp.RequestCtx)) {
	settled := false
	defer func() {
		if !settled {
			_ = i.store.Abort(ctx, key)
		}
	}()
	next(ctx)
	resp := captureResponse(&ctx.Response, i.maxResponse)
	settled = true
	if resp == nil {
		_ = i.store.Abort(ctx, key)
		return
	}
	// A store error leaves nothing stored; the answer already produced stands.
	_ = i.store.Complete(ctx, key, resp)
}

// idemMethod reports whether m is a method idempotency keys apply to.
func idemMethod(m []byte) bool {
	return string(m) == fasthttp.MethodPost || string(m) == fasthttp.MethodPut || string(m) == fasthttp.MethodPatch
}

// peekIdempotencyKey returns the first Idempotency-Key value and how many there
// are, whatever the spelling of the name (header names are not normalised; see
// docs/proxy.md trap 1).
func peekIdempotencyKey(h *fasthttp.RequestHeader) (v []byte, n int) {
	for k, val := range h.All() {
		if equalFoldString(k, IdempotencyKeyHeader) {
			if n == 0 {
				v = val
			}
			n++
		}
	}
	return v, n
}

// validateIdempotencyKey accepts 1 to maxLen bytes of printable ASCII
// (0x20-0x7E). The length is checked first, so an absurd key costs nothing
// more to reject.
func validateIdempotencyKey(k []byte, maxLen int) error {
	if len(k) > maxLen {
		return fmt.Errorf("idempotency key of %d bytes: %w", len(k), ErrIdempotencyKeyTooLong)
	}
	if len(k) == 0 {
		return fmt.Errorf("empty idempotency key: %w", ErrIdempotencyKeyInvalid)
	}
	for j, c := range k {
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("idempotency key byte %d is %#x: %w", j, c, ErrIdempotencyKeyInvalid)
		}
	}
	return nil
}

// idemFingerprint hashes what makes two requests "the same": method, request
// URI (path and query) and body, with separators so fields cannot run together.
func idemFingerprint(ctx *fasthttp.RequestCtx) [32]byte {
	h := sha256.New()
	h.Write(ctx.Method())
	h.Write([]byte{0})
	h.Write(ctx.Request.Header.RequestURI())
	h.Write([]byte{0})
	h.Write(ctx.Request.Body())
	var fp [32]byte
	h.Sum(fp[:0])
	return fp
}

// idemUnstored are response fields not kept for replay: hop-by-hop fields,
// fields the server regenerates, and Set-Cookie (see Handle).
var idemUnstored = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"TE", "Trailer", "Transfer-Encoding", "Upgrade",
	"Content-Length", "Date", "Server", "Set-Cookie",
}

func idemStoredField(name []byte) bool {
	for _, u := range idemUnstored {
		if equalFoldString(name, u) {
			return false
		}
	}
	return true
}

// idemTransient reports statuses not stored because a retry may succeed.
func idemTransient(code int) bool {
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
	if idemTransient(code) {
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
	sr := &StoredResponse{StatusCode: code}
	size := len(body)
	for k, v := range resp.Header.All() {
		if !idemStoredField(k) {
			continue
		}
		if size += len(k) + len(v); size > maxBytes {
			return nil
		}
		sr.Header = append(sr.Header, StoredHeader{Name: bytes.Clone(k), Value: bytes.Clone(v)})
	}
	sr.Body = bytes.Clone(body)
	if sr.Body == nil {
		sr.Body = []byte{}
	}
	return sr
}

// replayStored writes r to ctx as a replay.
func replayStored(ctx *fasthttp.RequestCtx, r *StoredResponse) {
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(r.StatusCode)
	for _, h := range r.Header {
		ctx.Response.Header.AddBytesKV(h.Name, h.Value)
	}
	ctx.Response.Header.Set(IdempotentReplayedHeader, "true")
	ctx.Response.SetBody(r.Body)
}

// writeIdemError answers code with {"error":errCode,"message":msg}. Both
// strings are constants of this file and need no JSON escaping.
func writeIdemError(ctx *fasthttp.RequestCtx, code int, errCode, msg string) {
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(code)
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.SetBodyString(`{"error":"` + errCode + `","message":"` + msg + `"}` + "\n")
}
