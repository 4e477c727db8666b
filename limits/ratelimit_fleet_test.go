package limits

import (
	"math"
	"slices"
	"testing"
	"time"
	"unsafe"
)

// TestLimiterDebit checks that a debit spends like requests do, may run a
// bucket into debt that the rate pays back at its own pace (Retry-After
// says when), and is never reported as Spent.
func TestLimiterDebit(t *testing.T) {
	tests := []struct {
		name      string
		rate      Rate
		burst     int
		debit     uint32
		wantRetry time.Duration // of the first refused Allow right after the debit
	}{
		{"part of the burst", Rate{10, time.Second}, 10, 4, 0},
		{"exactly the burst", Rate{10, time.Second}, 10, 10, 100 * time.Millisecond},
		{"debt of 5 tokens", Rate{10, time.Second}, 10, 15, 600 * time.Millisecond},
		{"debt of a day", Rate{1, time.Second}, 1, 86_400, 86_400 * time.Second},
		{"a debit past the floor", Rate{1, 24 * time.Hour}, 1, math.MaxUint32, time.Duration(-minCredit) + 24*time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, clk := newTestLimiter(t, LimiterOptions{Rate: tc.rate, Burst: tc.burst})
			const h = 42
			l.Debit(h, tc.debit, clk.Now())
			admitted := 0
			for range tc.burst + 1 {
				ok, retry := l.AllowHashAt(h, clk.Now())
				if !ok {
					if want := max(tc.wantRetry, 0); tc.wantRetry != 0 && retry != want {
						t.Fatalf("after a debit of %d, Allow refused with retry %v, want %v", tc.debit, retry, want)
					}
					if tc.wantRetry != 0 && tc.debit >= uint32(tc.burst) {
						// Paying the debt back takes exactly retry.
						clk.Advance(retry - 1)
						if ok, _ := l.AllowHashAt(h, clk.Now()); ok {
							t.Fatalf("Allow 1ns before the debt is paid = true, want false")
						}
						clk.Advance(1)
						if ok, _ := l.AllowHashAt(h, clk.Now()); !ok {
							t.Fatalf("Allow once the debt is paid = false, want true")
						}
					}
					break
				}
				admitted++
			}
			if want := max(tc.burst-int(min(tc.debit, uint32(tc.burst))), 0); admitted != want {
				t.Errorf("admitted %d right after a debit of %d from a burst of %d, want %d", admitted, tc.debit, tc.burst, want)
			}
			got := l.TakeSpent(nil)
			var spent uint32
			for _, s := range got {
				spent += s.Tokens
			}
			if want := uint32(admitted); tc.wantRetry != 0 && tc.debit >= uint32(tc.burst) {
				want++ // the request admitted once the debt was paid
				if spent != want {
					t.Errorf("TakeSpent after %d admitted = %v, want %d tokens (debits are not spent)", want, got, want)
				}
			} else if spent != want {
				t.Errorf("TakeSpent after %d admitted = %v, want %d tokens (debits are not spent)", want, got, want)
			}
		})
	}
}

// TestLimiterDebitLongIdleRefillsFully checks that a bucket in debt is full
// again once the debt and the burst have both been refilled, and not before:
// the shortcut for idle buckets must not forgive a debt.
func TestLimiterDebitLongIdleRefillsFully(t *testing.T) {
	l, clk := newTestLimiter(t, LimiterOptions{Rate: Rate{1, time.Second}, Burst: 2})
	const h = 7
	l.Debit(h, 12, clk.Now()) // 2 of burst + a debt of 10
	clk.Advance(10 * time.Second)
	if ok, retry := l.AllowHashAt(h, clk.Now()); ok || retry != time.Second {
		t.Fatalf("after paying 10s of a 10 token debt: Allow = %v, %v, want false, 1s", ok, retry)
	}
	clk.Advance(time.Hour)
	for i := range 2 {
		if ok, _ := l.AllowHashAt(h, clk.Now()); !ok {
			t.Fatalf("an hour later, request %d refused, want a full burst of 2", i)
		}
	}
	if ok, _ := l.AllowHashAt(h, clk.Now()); ok {
		t.Fatal("third request after an hour admitted, want the burst of 2 only")
	}
}

// TestLimiterTakeSpent checks that TakeSpent reports each key that spent,
// with its count, resets the counts, and leaves out keys that only debited
// or were refused.
func TestLimiterTakeSpent(t *testing.T) {
	l, clk := newTestLimiter(t, LimiterOptions{Rate: Rate{1, time.Second}, Burst: 3})
	now := clk.Now()
	for range 5 { // 3 admitted, 2 refused
		l.AllowHashAt(1, now)
	}
	l.AllowHashAt(2, now)
	l.Debit(3, 2, now)
	got := l.TakeSpent(nil)
	slices.SortFunc(got, func(a, b Spent) int { return int(a.Hash) - int(b.Hash) })
	if want := []Spent{{1, 3}, {2, 1}}; !slices.Equal(got, want) {
		t.Errorf("TakeSpent = %v, want %v", got, want)
	}
	if got := l.TakeSpent(nil); len(got) != 0 {
		t.Errorf("second TakeSpent = %v, want nothing: counts are reset", got)
	}
}

// TestLimiterBucketSize keeps the spent counter in what was padding: the
// memory bound documented on Limiter counts 32-byte buckets.
func TestLimiterBucketSize(t *testing.T) {
	if got := unsafe.Sizeof(bucket{}); got != 32 {
		t.Errorf("bucket is %d bytes, want 32", got)
	}
}
