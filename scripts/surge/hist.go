package main

import (
	"math"
	"slices"
	"time"
)

// histBase is the ratio between the bounds of neighbouring histogram buckets:
// a quantile read from the histogram is within 2% of the true value.
const histBase = 1.02

// hist counts latencies in logarithmic buckets from 1µs, so that the client
// processes can send theirs to the parent and the parent can add them up.
// Bucket i holds latencies in [histBase^i, histBase^(i+1)) µs.
type hist struct {
	Counts map[int]uint64 `json:"counts"`
	N      uint64         `json:"n"`
}

func newHist() *hist { return &hist{Counts: map[int]uint64{}} }

func (h *hist) add(d time.Duration) {
	us := max(float64(d)/float64(time.Microsecond), 1)
	h.Counts[int(math.Log(us)/math.Log(histBase))]++
	h.N++
}

func (h *hist) merge(o *hist) {
	for k, v := range o.Counts {
		h.Counts[k] += v
	}
	h.N += o.N
}

// quantile returns the upper bound of the bucket that holds the q-th
// latency (0 < q <= 1); 0 for an empty histogram.
func (h *hist) quantile(q float64) time.Duration {
	if h.N == 0 {
		return 0
	}
	keys := make([]int, 0, len(h.Counts))
	for k := range h.Counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rank := uint64(math.Ceil(q * float64(h.N)))
	var seen uint64
	for _, k := range keys {
		seen += h.Counts[k]
		if seen >= rank {
			return time.Duration(math.Pow(histBase, float64(k+1)) * float64(time.Microsecond))
		}
	}
	return time.Duration(math.Pow(histBase, float64(keys[len(keys)-1]+1)) * float64(time.Microsecond))
}
