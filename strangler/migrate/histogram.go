package migrate

import (
	"math"
	"sync/atomic"
	"time"
)

// Latency histograms with fixed log-scale buckets: cheap to record (one
// atomic add), cheap to subtract (a migration step's window is the
// difference of two cumulative readings), and precise to about 10%, which
// is plenty for a gate that compares p99s.

// NumBuckets is the number of latency buckets. Bucket i holds durations in
// (BucketBound(i-1), BucketBound(i)]; the last bucket is open-ended.
const NumBuckets = 64

// bucket bounds grow by 2^(1/4) (~19%) from 16µs; bucket 63 is open-ended
// (past ~800s). Computed at first use from a constant formula, so they are
// not mutable state.
func boundNanos(i int) float64 { return 16e3 * math.Pow(2, float64(i)/4) }

// BucketBound returns the upper bound of bucket i.
func BucketBound(i int) time.Duration {
	if i >= NumBuckets-1 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(boundNanos(i))
}

// BucketOf returns the bucket index of d.
func BucketOf(d time.Duration) int {
	if d <= 16*time.Microsecond {
		return 0
	}
	i := int(math.Ceil(4 * math.Log2(float64(d)/16e3)))
	if i >= NumBuckets {
		return NumBuckets - 1
	}
	return i
}

// Histogram is a snapshot of cumulative bucket counts.
type Histogram [NumBuckets]uint64

// Count returns the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for _, c := range h {
		n += c
	}
	return n
}

// Sub returns h - o, bucket by bucket: the observations made between two
// readings.
func (h Histogram) Sub(o Histogram) Histogram {
	for i := range h {
		if h[i] >= o[i] {
			h[i] -= o[i]
		} else {
			h[i] = 0 // counters restarted
		}
	}
	return h
}

// Quantile returns the upper bound of the bucket holding quantile q (0..1),
// or 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h {
		seen += c
		if seen >= rank {
			return BucketBound(i)
		}
	}
	return BucketBound(NumBuckets - 1)
}

// LiveHistogram records observations concurrently. The zero value is ready.
type LiveHistogram struct {
	counts [NumBuckets]atomic.Uint64
}

// Observe records d. It does not allocate.
func (l *LiveHistogram) Observe(d time.Duration) { l.counts[BucketOf(d)].Add(1) }

// Read returns the cumulative counts.
func (l *LiveHistogram) Read() Histogram {
	var h Histogram
	for i := range l.counts {
		h[i] = l.counts[i].Load()
	}
	return h
}
