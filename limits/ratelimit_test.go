package limits

import (
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Rate
		ok   bool
	}{
		{"per second", "100/s", Rate{100, time.Second}, true},
		{"per minute", "10/m", Rate{10, time.Minute}, true},
		{"per hour", "5000/h", Rate{5000, time.Hour}, true},
		{"per duration", "1/100ms", Rate{1, 100 * time.Millisecond}, true},
		{"per compound duration", "3/1m30s", Rate{3, 90 * time.Second}, true},
		{"per fractional duration", "3/1.5s", Rate{3, 1500 * time.Millisecond}, true},
		{"per explicit second", "7/1s", Rate{7, time.Second}, true},
		{"leading zero", "010/s", Rate{10, time.Second}, true},
		{"max events", "1000000000/s", Rate{MaxRateEvents, time.Second}, true},
		{"max period", "1/24h", Rate{1, 24 * time.Hour}, true},
		{"nanosecond period", "1/1ns", Rate{1, time.Nanosecond}, true},

		{"empty", "", Rate{}, false},
		{"no slash", "100", Rate{}, false},
		{"no events", "/s", Rate{}, false},
		{"no period", "100/", Rate{}, false},
		{"zero events", "0/s", Rate{}, false},
		{"negative events", "-1/s", Rate{}, false},
		{"plus sign", "+1/s", Rate{}, false},
		{"fractional events", "1.5/s", Rate{}, false},
		{"too many events", "1000000001/s", Rate{}, false},
		{"overflowing events", "99999999999999999999999/s", Rate{}, false},
		{"zero period", "1/0s", Rate{}, false},
		{"bare zero period", "1/0", Rate{}, false},
		{"negative period", "1/-1s", Rate{}, false},
		{"period too long", "1/25h", Rate{}, false},
		{"overflowing period", "1/9999999999h", Rate{}, false},
		{"unknown unit", "1/d", Rate{}, false},
		{"ms without number", "1/ms", Rate{}, false},
		{"upper case unit", "1/S", Rate{}, false},
		{"spaces", "100 / s", Rate{}, false},
		{"trailing space", "100/s ", Rate{}, false},
		{"two slashes", "1/2/s", Rate{}, false},
		{"hex events", "0x10/s", Rate{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("ParseRate(%q) = %v, %v, want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestParseRateErrorQuotesInput(t *testing.T) {
	_, err := ParseRate("0/s")
	if err == nil || !errors.Is(err, errRateEvents) || err.Error() != `parse rate "0/s": `+errRateEvents.Error() {
		t.Errorf("ParseRate(%q) error = %v, want it to quote the input and wrap errRateEvents", "0/s", err)
	}
}

func TestRateString(t *testing.T) {
	tests := []struct {
		in   Rate
		want string
	}{
		{Rate{100, time.Second}, "100/s"},
		{Rate{10, time.Minute}, "10/m"},
		{Rate{5000, time.Hour}, "5000/h"},
		{Rate{1, 100 * time.Millisecond}, "1/100ms"},
		{Rate{3, 90 * time.Second}, "3/1m30s"},
		{Rate{2, 2 * time.Hour}, "2/2h0m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("%#v.String() = %q, want %q", tc.in, got, tc.want)
			}
			back, err := ParseRate(tc.want)
			if err != nil || back != tc.in {
				t.Errorf("ParseRate(%q) = %v, %v, want %v", tc.want, back, err, tc.in)
			}
		})
	}
}

func TestRateText(t *testing.T) {
	var r Rate
	if err := r.UnmarshalText([]byte("10/m")); err != nil || r != (Rate{10, time.Minute}) {
		t.Errorf("UnmarshalText(%q) = %v, %v, want 10/m", "10/m", r, err)
	}
	if err := r.UnmarshalText([]byte("0/m")); err == nil || r != (Rate{10, time.Minute}) {
		t.Errorf("UnmarshalText(%q) = %v, %v, want an error and r unchanged", "0/m", r, err)
	}
	b, err := Rate{1, 250 * time.Millisecond}.MarshalText()
	if err != nil || string(b) != "1/250ms" {
		t.Errorf("MarshalText() = %q, %v, want %q", b, err, "1/250ms")
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"100/s", "10/m", "5000/h", "1/100ms", "3/1m30s", "0/s", "-1/s", "1/-1s", "1/0",
		"1000000000/1ns", "1/24h", "1/25h", "", "/", "1/", "1/1.5s", "18446744073709551617/s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			if r != (Rate{}) {
				t.Fatalf("ParseRate(%q) = %v, %v, want the zero Rate with an error", s, r, err)
			}
			return
		}
		if r.Validate() != nil {
			t.Fatalf("ParseRate(%q) = %v, which fails Validate: %v", s, r, r.Validate())
		}
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseRate(%q) = %v, %v, want %v (round trip of %q)", r.String(), back, err, r, s)
		}
		// Every valid rate must make a limiter with the default burst.
		if _, err := NewLimiter(LimiterOptions{Rate: r, MaxKeys: 1}); err != nil {
			t.Fatalf("NewLimiter(Rate %v) = %v, want no error", r, err)
		}
	})
}

// fakeClock is a clock for tests, safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTestLimiter(t testing.TB, opts LimiterOptions) (*Limiter, *fakeClock) {
	t.Helper()
	clk := &fakeClock{}
	clk.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	opts.Now = clk.Now
	l, err := NewLimiter(opts)
	if err != nil {
		t.Fatalf("NewLimiter(%+v) = %v", opts, err)
	}
	return l, clk
}

func TestLimiterBucket(t *testing.T) {
	// step: advance the clock, then call Allow once.
	type step struct {
		advance time.Duration
		ok      bool
		retry   time.Duration
	}
	tests := []struct {
		name  string
		rate  Rate
		burst int
		steps []step
	}{
		{"burst then refusal", Rate{1, time.Second}, 3, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, false, time.Second},
			{400 * time.Millisecond, false, 600 * time.Millisecond},
			{600 * time.Millisecond, true, 0}, {0, false, time.Second},
		}},
		{"refill caps at burst", Rate{1, time.Second}, 2, []step{
			{0, true, 0}, {0, true, 0}, {0, false, time.Second},
			{time.Hour, true, 0}, {0, true, 0}, {0, false, time.Second},
		}},
		{"partial refill accumulates", Rate{10, time.Second}, 1, []step{
			{0, true, 0}, {0, false, 100 * time.Millisecond},
			{30 * time.Millisecond, false, 70 * time.Millisecond},
			{30 * time.Millisecond, false, 40 * time.Millisecond},
			{40 * time.Millisecond, true, 0},
		}},
		{"refusals spend nothing", Rate{1, time.Second}, 1, []step{
			{0, true, 0}, {0, false, time.Second}, {0, false, time.Second}, {0, false, time.Second},
			{time.Second, true, 0},
		}},
		{"fractional interval, retry rounds up", Rate{3, time.Second}, 1, []step{
			{0, true, 0}, {0, false, 333333334},
			{333333333, false, 1}, {1, true, 0},
		}},
		{"fractional interval, no drift", Rate{3, time.Second}, 3, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, false, 333333334},
			{333333333, false, 1}, {1, true, 0}, {0, false, 333333333},
			// At exactly 1s: burst + 3 tokens spent, none lost to rounding.
			{666666666, true, 0}, {0, true, 0}, {0, false, 333333334},
		}},
		{"per minute", Rate{10, time.Minute}, 0, []step{
			// Default burst for 10/m is 1.
			{0, true, 0}, {0, false, 6 * time.Second}, {6 * time.Second, true, 0},
		}},
		{"sub-second period", Rate{1, 100 * time.Millisecond}, 0, []step{
			// Default burst for 1/100ms is 10.
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0},
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0},
			{0, false, 100 * time.Millisecond}, {50 * time.Millisecond, false, 50 * time.Millisecond},
		}},
		{"clock going backwards", Rate{1, time.Second}, 1, []step{
			{0, true, 0}, {-time.Hour, false, time.Second}, {time.Hour, false, time.Second},
			{time.Second, true, 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, clk := newTestLimiter(t, LimiterOptions{Rate: tc.rate, Burst: tc.burst})
			key := []byte("client")
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				ok, retry := l.Allow(key)
				if ok != s.ok || retry != s.retry {
					t.Fatalf("step %d: Allow(%q) = %v, %v, want %v, %v", i, key, ok, retry, s.ok, s.retry)
				}
			}
		})
	}
}

func TestLimiterRetryAfterIsExact(t *testing.T) {
	for _, r := range []Rate{{1, time.Second}, {3, time.Second}, {7, time.Minute}, {1000, time.Second}, {5000, time.Hour}, {1, 24 * time.Hour}} {
		t.Run(r.String(), func(t *testing.T) {
			l, clk := newTestLimiter(t, LimiterOptions{Rate: r, Burst: 2})
			key := []byte("k")
			l.Allow(key)
			l.Allow(key)
			ok, retry := l.Allow(key)
			if ok || retry <= 0 {
				t.Fatalf("Allow(%q) = %v, %v, want a refusal with a positive retry", key, ok, retry)
			}
			clk.Advance(retry - 1)
			if ok, _ := l.Allow(key); ok {
				t.Fatalf("Allow(%q) 1ns before retry-after %v = true, want false", key, retry)
			}
			clk.Advance(1)
			if ok, _ := l.Allow(key); !ok {
				t.Fatalf("Allow(%q) at retry-after %v = false, want true", key, retry)
			}
		})
	}
}

func TestLimiterAllowAt(t *testing.T) {
	l, clk := newTestLimiter(t, LimiterOptions{Rate: Rate{1, time.Second}, Burst: 1})
	key := []byte("k")
	t0 := clk.Now()
	if ok, _ := l.AllowAt(key, t0); !ok {
		t.Fatalf("AllowAt(%q, t0) = false, want true", key)
	}
	if ok, retry := l.AllowAt(key, t0.Add(250*time.Millisecond)); ok || retry != 750*time.Millisecond {
		t.Fatalf("AllowAt(%q, t0+250ms) = %v, %v, want false, 750ms", key, ok, retry)
	}
	// The limiter's own clock still reads t0, before the key's last
	// update: no time passes, and nothing is refilled or lost.
	if ok, retry := l.Allow(key); ok || retry != 750*time.Millisecond {
		t.Fatalf("Allow(%q) at t0 = %v, %v, want false, 750ms", key, ok, retry)
	}
	if ok, _ := l.AllowAt(key, t0.Add(time.Second)); !ok {
		t.Fatalf("AllowAt(%q, t0+1s) = false, want true", key)
	}
}

func TestLimiterKeysAreIndependent(t *testing.T) {
	l, _ := newTestLimiter(t, LimiterOptions{Rate: Rate{1, time.Second}, Burst: 1})
	if ok, _ := l.Allow([]byte("a")); !ok {
		t.Fatal(`Allow("a") = false, want true`)
	}
	if ok, _ := l.Allow([]byte("a")); ok {
		t.Fatal(`second Allow("a") = true, want false`)
	}
	if ok, _ := l.Allow([]byte("b")); !ok {
		t.Fatal(`Allow("b") = false, want true: another key's bucket`)
	}
	if ok, _ := l.Allow(nil); !ok {
		t.Fatal(`Allow(nil) = false, want true: the empty key is a key`)
	}
}

func TestLimiterDefaults(t *testing.T) {
	tests := []struct {
		rate      Rate
		burst     int
		wantBurst int
	}{
		{Rate{100, time.Second}, 0, 100},
		{Rate{1, 100 * time.Millisecond}, 0, 10},
		{Rate{10, time.Minute}, 0, 1},
		{Rate{5000, time.Hour}, 0, 2}, // 1.39/s rounded up
		{Rate{3, 2 * time.Second}, 0, 2},
		{Rate{1000000000, time.Nanosecond}, 0, math32},
		{Rate{100, time.Second}, 7, 7},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v burst %d", tc.rate, tc.burst), func(t *testing.T) {
			l, err := NewLimiter(LimiterOptions{Rate: tc.rate, Burst: tc.burst})
			if err != nil {
				t.Fatalf("NewLimiter(%v, burst %d) = %v", tc.rate, tc.burst, err)
			}
			if got := l.Burst(); got != tc.wantBurst {
				t.Errorf("NewLimiter(%v, burst %d).Burst() = %d, want %d", tc.rate, tc.burst, got, tc.wantBurst)
			}
			if got := l.Rate(); got != tc.rate {
				t.Errorf("Rate() = %v, want %v", got, tc.rate)
			}
			if got := l.MaxKeys(); got != DefaultMaxKeys-DefaultMaxKeys%maxShards {
				t.Errorf("MaxKeys() = %d, want %d", got, DefaultMaxKeys-DefaultMaxKeys%maxShards)
			}
		})
	}
}

const math32 = 1<<31 - 1

func TestNewLimiterInvalid(t *testing.T) {
	tests := []struct {
		name string
		opts LimiterOptions
	}{
		{"zero options", LimiterOptions{}},
		{"zero events", LimiterOptions{Rate: Rate{0, time.Second}}},
		{"zero period", LimiterOptions{Rate: Rate{1, 0}}},
		{"negative events", LimiterOptions{Rate: Rate{-1, time.Second}}},
		{"negative period", LimiterOptions{Rate: Rate{1, -time.Second}}},
		{"too many events", LimiterOptions{Rate: Rate{MaxRateEvents + 1, time.Second}}},
		{"period too long", LimiterOptions{Rate: Rate{1, MaxRatePer + 1}}},
		{"negative burst", LimiterOptions{Rate: Rate{1, time.Second}, Burst: -1}},
		{"negative max keys", LimiterOptions{Rate: Rate{1, time.Second}, MaxKeys: -1}},
		{"burst overflows", LimiterOptions{Rate: Rate{1, 24 * time.Hour}, Burst: 1 << 40}},
		{"max keys beyond int32", LimiterOptions{Rate: Rate{1, time.Second}, MaxKeys: 1 << 32}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := NewLimiter(tc.opts); err == nil {
				t.Errorf("NewLimiter(%+v) = %p, nil, want an error", tc.opts, l)
			}
		})
	}
}

func TestLimiterShardSizes(t *testing.T) {
	tests := []struct{ maxKeys, shards, total int }{
		{1, 1, 1},
		{64, 1, 64},
		{127, 1, 127},
		{128, 2, 128},
		{1000, 8, 1000},
		{4096, 64, 4096},
		{100_000, 64, 99_968},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.maxKeys), func(t *testing.T) {
			l, _ := newTestLimiter(t, LimiterOptions{Rate: Rate{1, time.Second}, MaxKeys: tc.maxKeys})
			if len(l.shards) != tc.shards || l.MaxKeys() != tc.total {
				t.Errorf("NewLimiter(MaxKeys %d): %d shards, MaxKeys() = %d, want %d, %d",
					tc.maxKeys, len(l.shards), l.MaxKeys(), tc.shards, tc.total)
			}
		})
	}
}

// checkBounded fails unless every shard is within its size and its index
// and buckets agree.
func checkBounded(t *testing.T, l *Limiter) {
	t.Helper()
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		nIndex, nBuckets := len(s.index), len(s.buckets)
		var wrong int
		for k, j := range s.index {
			if s.buckets[j].key != k {
				wrong++
			}
		}
		s.mu.Unlock()
		if nIndex != nBuckets || nBuckets > s.size || wrong != 0 {
			t.Fatalf("shard %d: %d index entries, %d buckets, size %d, %d mismatched, want equal counts within size",
				i, nIndex, nBuckets, s.size, wrong)
		}
	}
}

func TestLimiterFloodStaysBounded(t *testing.T) {
	const maxKeys = 10_000
	l, clk := newTestLimiter(t, LimiterOptions{Rate: Rate{10, time.Second}, MaxKeys: maxKeys})
	heavy := []byte("heavy-user")

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	key := make([]byte, 0, 64)
	for i := range 1_000_000 {
		key = strconv.AppendInt(append(key[:0], "attacker-"...), int64(i), 10)
		if ok, _ := l.Allow(key); !ok {
			t.Fatalf("Allow(%q) = false, want true: a new key has a full bucket", key)
		}
		if i%1000 == 0 {
			clk.Advance(time.Millisecond)
			l.Allow(heavy)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)

	if n := l.Len(); n > l.MaxKeys() || n < l.MaxKeys()*9/10 {
		t.Errorf("after a flood of 1,000,000 keys Len() = %d, want at most MaxKeys() = %d (and near it)", n, l.MaxKeys())
	}
	checkBounded(t, l)
	// 10,000 buckets need well under 2MB; a map keeping every key would
	// need over 50MB.
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if grown > 4<<20 {
		t.Errorf("heap grew by %d bytes over a flood of 1,000,000 keys, want under 4MiB", grown)
	}
	t.Logf("heap grew by %d bytes for %d keys tracked", grown, l.Len())
	if !l.tracked(heavy) {
		t.Errorf("the heavy user's key was evicted by the flood, want it kept")
	}
}

// tracked reports whether key has a bucket.
func (l *Limiter) tracked(key []byte) bool {
	h := maphash.Bytes(l.seed, key)
	s := &l.shards[h>>l.shift]
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.index[h]
	return ok
}

func TestLimiterEvictionKeepsHeavyUser(t *testing.T) {
	// One shard of 64. The heavy user is refused throughout: its bucket is
	// never evicted and reset to full, though 64,000 other keys pass by.
	l, clk := newTestLimiter(t, LimiterOptions{Rate: Rate{1, time.Minute}, Burst: 5, MaxKeys: 64})
	heavy := []byte("heavy")
	for range 5 {
		if ok, _ := l.Allow(heavy); !ok {
			t.Fatalf("Allow(%q) within burst = false, want true", heavy)
		}
	}
	for i := range 64_000 {
		l.Allow([]byte("flood-" + strconv.Itoa(i)))
		if i%100 == 0 { // heavy user's requests, well within 4 sweeps of 64
			clk.Advance(time.Millisecond)
			if ok, _ := l.Allow(heavy); ok {
				t.Fatalf("after %d flood keys Allow(%q) = true, want false: its bucket was reset", i, heavy)
			}
		}
	}
	checkBounded(t, l)
}

func TestLimiterEvictionPrefersIdle(t *testing.T) {
	l, _ := newTestLimiter(t, LimiterOptions{Rate: Rate{1, time.Second}, Burst: 2, MaxKeys: 64})
	key := func(i int) []byte { return []byte("k" + strconv.Itoa(i)) }

	// Fill the shard: keys 0..31 requested again (3 chances each), 32..63
	// seen once. All buckets are short of full.
	for i := range 64 {
		n := 1
		if i < 32 {
			n = 4
		}
		for range n {
			l.Allow(key(i))
		}
	}
	// 32 new keys must replace the 32 keys seen once, not the busy ones.
	for i := 64; i < 96; i++ {
		l.Allow(key(i))
	}
	for i := range 96 {
		want := i < 32 || i >= 64
		if got := l.tracked(key(i)); got != want {
			t.Errorf("after 32 new keys, tracked(%q) = %v, want %v", key(i), got, want)
		}
	}

	checkBounded(t, l)
}

func TestLimiterEvictionTakesFullBucketsFirst(t *testing.T) {
	// A bucket that has refilled carries nothing, so it is taken even
	// ahead of a key with no chances left further along the sweep.
	l, clk := newTestLimiter(t, LimiterOptions{Rate: Rate{1, time.Minute}, Burst: 2, MaxKeys: 64})
	key := func(i int) []byte { return []byte("k" + strconv.Itoa(i)) }
	idle := []byte("idle")
	for i := range 32 {
		l.Allow(key(i)) // positions 0..31
	}
	l.Allow(idle) // position 32
	l.Allow(idle) // empty now, and 3 chances
	clk.Advance(2 * time.Minute)
	// The idle key's bucket is full again; keys 0..31 spend and are not.
	for i := range 32 {
		l.Allow(key(i))
	}
	for i := 33; i < 64; i++ {
		l.Allow(key(i)) // positions 33..63, no chances
	}
	l.Allow([]byte("newcomer"))
	if l.tracked(idle) {
		t.Errorf("tracked(%q) = true after a newcomer, want its full bucket evicted first", idle)
	}
	if !l.tracked(key(33)) {
		t.Errorf("tracked(%q) = false, want true: the full bucket should have gone instead", key(33))
	}
	checkBounded(t, l)
}

func TestLimiterConcurrent(t *testing.T) {
	// The clock is frozen, so exactly Burst requests per key may pass
	// however the goroutines interleave.
	const (
		goroutines = 16
		perG       = 2000
		keys       = 50
		burst      = 100
	)
	l, _ := newTestLimiter(t, LimiterOptions{Rate: Rate{1, time.Hour}, Burst: burst, MaxKeys: 1000})
	var allowed [keys]atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := range perG {
				k := (g + i) % keys
				if ok, retry := l.Allow([]byte("key-" + strconv.Itoa(k))); ok {
					allowed[k].Add(1)
				} else if retry <= 0 {
					t.Errorf("Allow refused with retry-after %v, want > 0", retry)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for k := range allowed {
		if got := allowed[k].Load(); got != burst {
			t.Errorf("key-%d: %d requests allowed, want exactly %d", k, got, burst)
		}
	}
	checkBounded(t, l)
}

func TestLimiterConcurrentWithEvictionAndTime(t *testing.T) {
	// Hammer a small limiter with more keys than it holds while the clock
	// moves: checks the race detector and the table's consistency.
	l, clk := newTestLimiter(t, LimiterOptions{Rate: Rate{100, time.Second}, MaxKeys: 256})
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				clk.Advance(time.Millisecond)
				runtime.Gosched()
			}
		}
	})
	var workers sync.WaitGroup
	for g := range 8 {
		workers.Go(func() {
			for i := range 20_000 {
				l.Allow([]byte(strconv.Itoa((g*7919 + i*31) % 5000)))
				if i%5000 == 0 {
					_ = l.Len()
				}
			}
		})
	}
	workers.Wait()
	close(done)
	wg.Wait()
	checkBounded(t, l)
	if n := l.Len(); n > l.MaxKeys() {
		t.Errorf("Len() = %d, want at most %d", n, l.MaxKeys())
	}
}

func TestLimiterAllowDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l, clk := newTestLimiter(t, LimiterOptions{Rate: Rate{1000, time.Second}, MaxKeys: 64})
	key := []byte("existing")
	l.Allow(key)
	if n := testing.AllocsPerRun(1000, func() {
		clk.Advance(time.Millisecond)
		l.Allow(key)
	}); n != 0 {
		t.Errorf("Allow(existing key) allocates %v times, want 0", n)
	}
	for i := range 64 {
		l.Allow([]byte("fill-" + strconv.Itoa(i)))
	}
	var i int
	fresh := make([]byte, 0, 32)
	if n := testing.AllocsPerRun(1000, func() {
		i++
		fresh = strconv.AppendInt(append(fresh[:0], "new-"...), int64(i), 10)
		l.Allow(fresh)
	}); n != 0 {
		t.Errorf("Allow(new key) on a full limiter allocates %v times, want 0", n)
	}
}

func ExampleLimiter() {
	l, err := NewLimiter(LimiterOptions{Rate: Rate{Events: 2, Per: time.Second}, Burst: 2})
	if err != nil {
		panic(err)
	}
	client := []byte("api-key-123")
	for range 3 {
		ok, retry := l.Allow(client)
		// Retry-After is in whole seconds, rounded up.
		fmt.Println(ok, int((retry+time.Second-1)/time.Second))
	}
	// Output:
	// true 0
	// true 0
	// false 1
}

func ExampleParseRate() {
	for _, s := range []string{"100/s", "10/m", "1/100ms", "0/s"} {
		r, err := ParseRate(s)
		fmt.Println(r, err)
	}
	// Output:
	// 100/s <nil>
	// 10/m <nil>
	// 1/100ms <nil>
	// 0/0s parse rate "0/s": events must be a whole number from 1 to 1000000000
}

func BenchmarkParseRate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRate("100/s"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	b.Run("one key serial", func(b *testing.B) {
		l, _ := NewLimiter(LimiterOptions{Rate: Rate{1_000_000_000, time.Second}})
		key := []byte("0123456789abcdef0123456789abcdef")
		b.ReportAllocs()
		for b.Loop() {
			l.Allow(key)
		}
	})
	b.Run("one key serial AllowAt", func(b *testing.B) {
		// The clock read is left out, as when the caller passes the
		// request's time: this is the limiter's own cost.
		l, _ := NewLimiter(LimiterOptions{Rate: Rate{1_000_000_000, time.Second}})
		key := []byte("0123456789abcdef0123456789abcdef")
		now := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(time.Microsecond)
			l.AllowAt(key, now)
		}
	})
	b.Run("50k keys parallel AllowAt", func(b *testing.B) {
		l, _ := NewLimiter(LimiterOptions{Rate: Rate{100, time.Second}})
		keys := make([][]byte, 50_000)
		for i := range keys {
			keys[i] = []byte(fmt.Sprintf("client-%032d", i))
			l.Allow(keys[i])
		}
		var next atomic.Int64
		start := time.Now()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(7919))
			for pb.Next() {
				i++
				l.AllowAt(keys[i%len(keys)], start)
			}
		})
	})
	b.Run("one key parallel", func(b *testing.B) {
		l, _ := NewLimiter(LimiterOptions{Rate: Rate{1_000_000_000, time.Second}})
		key := []byte("0123456789abcdef0123456789abcdef")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow(key)
			}
		})
	})
	b.Run("50k keys parallel", func(b *testing.B) {
		l, _ := NewLimiter(LimiterOptions{Rate: Rate{100, time.Second}})
		keys := make([][]byte, 50_000)
		for i := range keys {
			keys[i] = []byte(fmt.Sprintf("client-%032d", i))
			l.Allow(keys[i])
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(7919))
			for pb.Next() {
				i++
				l.Allow(keys[i%len(keys)])
			}
		})
	})
	b.Run("flood of new keys parallel", func(b *testing.B) {
		l, _ := NewLimiter(LimiterOptions{Rate: Rate{100, time.Second}, MaxKeys: 10_000})
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			key := make([]byte, 0, 32)
			for pb.Next() {
				key = strconv.AppendInt(append(key[:0], "flood-"...), next.Add(1), 10)
				l.Allow(key)
			}
		})
	})
}

// TestLimiterLenNeverExceedsMaxKeys floods limiters of several sizes with
// distinct keys, from several goroutines at once, while a reader checks the
// bound after every batch: the count must stay within MaxKeys throughout, not
// only at the end, and MaxKeys must not exceed what was asked for.
func TestLimiterLenNeverExceedsMaxKeys(t *testing.T) {
	tests := []struct {
		name    string
		maxKeys int
	}{
		{"one", 1},
		{"below one shard", 63},
		{"one shard", 64},
		{"odd", 1001},
		{"many shards", 4097},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewLimiter(LimiterOptions{Rate: Rate{1, time.Hour}, MaxKeys: tc.maxKeys})
			if err != nil {
				t.Fatal(err)
			}
			if l.MaxKeys() > tc.maxKeys || l.MaxKeys() < 1 {
				t.Fatalf("MaxKeys() = %d, want 1..%d", l.MaxKeys(), tc.maxKeys)
			}
			const writers = 4
			perWriter := 10 * tc.maxKeys
			var wg sync.WaitGroup
			done := make(chan struct{})
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := make([]byte, 0, 32)
					for i := range perWriter {
						key = strconv.AppendInt(append(key[:0], byte('a'+w), '-'), int64(i), 10)
						l.Allow(key)
					}
				}()
			}
			go func() { wg.Wait(); close(done) }()
			checks := 0
			for running := true; running; checks++ {
				select {
				case <-done:
					running = false
				default:
				}
				if n := l.Len(); n > l.MaxKeys() {
					t.Fatalf("Len() = %d during a flood, want at most MaxKeys() = %d", n, l.MaxKeys())
				}
			}
			checkBounded(t, l)
			t.Logf("MaxKeys %d: %d keys tracked after %d distinct, %d checks", l.MaxKeys(), l.Len(), writers*perWriter, checks)
		})
	}
}
