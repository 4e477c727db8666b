package shadow

import (
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// The noise baseline (after Twitter's Diffy): some shadow mirrors of safe requests are
// sent to legacy a second time, and whatever differs between legacy's two answers
// (timestamps, request ids, …) is learnt as noise. A difference between legacy and the
// isolate at a noisy position is not a mismatch. Status codes are never noise.

const (
	// maxNoise bounds a route's noise set; when it is full, a new entry evicts the
	// entry seen least often.
	maxNoise = 64
	// maxNoiseDiffs bounds the differences one baseline comparison collects, so a
	// pathological pair of answers costs bounded work.
	maxNoiseDiffs = 4 * maxNoise
	// noiseBody is the noise entry for bodies that are not JSON and differ as bytes.
	noiseBody = "body"
	// noiseHeaderPrefix starts the noise entry of a header: "header:" and the name in
	// lower case.
	noiseHeaderPrefix = "header:"
)

// Noise is a route's learnt noise: normalised JSON paths ("$.items[*].id"), header
// entries ("header:date") and "body", each with how often a baseline saw it. It
// holds at most 64 entries; when it is full, a new entry evicts the one seen least
// often. The zero value is empty and ready; it is safe for concurrent use.
type Noise struct {
	// mirrors counts the sampling decisions taken, for Sample.
	mirrors atomic.Uint64
	// size mirrors len(seen) so lookups skip the lock while nothing is learnt.
	size atomic.Int32

	mu   sync.RWMutex
	seen map[string]uint64
}

// Sample reports whether this safe mirror is also sent to legacy a second time, for
// a fraction rate of the calls (none for 0, a negative rate or NaN; all from 1). The choice is deterministic (calls 0, 1/rate, 2/rate,
// …), so the first mirror of a route always learns and the rate is exact.
func (n *Noise) Sample(rate float64) bool {
	if !(rate > 0) { // also false for NaN
		return false
	}
	i := n.mirrors.Add(1) - 1
	if rate >= 1 {
		return true
	}
	return math.Ceil(float64(i)*rate) != math.Ceil(float64(i+1)*rate)
}

// Observe records the entries one baseline comparison found (AppendBodyNoise,
// AppendHeaderNoise); duplicates within keys count once. keys is sorted in place and
// may be reused once Observe returns.
func (n *Noise) Observe(keys []string) {
	if len(keys) == 0 {
		return
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen == nil {
		n.seen = make(map[string]uint64, maxNoise)
	}
	for _, k := range keys {
		if c, ok := n.seen[k]; ok {
			n.seen[k] = c + 1
			continue
		}
		if len(n.seen) >= maxNoise {
			delete(n.seen, n.leastSeen())
		}
		n.seen[k] = 1
	}
	n.size.Store(int32(len(n.seen)))
}

// leastSeen returns the entry with the lowest count, the greatest name among equals
// so eviction does not depend on map order. n.mu must be held.
func (n *Noise) leastSeen() string {
	var low string
	var lowCount uint64 = math.MaxUint64
	for k, c := range n.seen {
		if c < lowCount || c == lowCount && k > low {
			low, lowCount = k, c
		}
	}
	return low
}

// has reports whether key is a learnt entry. It does not allocate.
func (n *Noise) has(key []byte) bool {
	if n == nil || n.size.Load() == 0 {
		return false
	}
	n.mu.RLock()
	_, ok := n.seen[string(key)]
	n.mu.RUnlock()
	return ok
}

// hasHeader reports whether the header called name (any case) is noise.
func (n *Noise) hasHeader(name string) bool {
	if n == nil || n.size.Load() == 0 {
		return false
	}
	var buf [64]byte
	return n.has(appendLower(append(buf[:0], noiseHeaderPrefix...), name))
}

// List returns the learnt entries, sorted.
func (n *Noise) List() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if len(n.seen) == 0 {
		return nil
	}
	out := make([]string, 0, len(n.seen))
	for k := range n.seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// normalizePath replaces every array index of a concrete JSON path as formatPath
// renders it ("$.items[3].id", `$["a b"][0]`) with "[*]", so the positions of one
// field in every element count as one noise entry. Quoted member names are copied
// unchanged, whatever they contain. Anything else passes through as it is;
// normalizePath is idempotent.
func normalizePath(p string) string {
	if strings.IndexByte(p, '[') < 0 {
		return p
	}
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); {
		if p[i] != '[' {
			out = append(out, p[i])
			i++
			continue
		}
		if i+1 < len(p) && p[i+1] == '"' {
			// A quoted member name: copy through its closing quote.
			j := i + 2
			for j < len(p) {
				if p[j] == '\\' {
					j += 2
					continue
				}
				j++
				if p[j-1] == '"' {
					break
				}
			}
			j = min(j, len(p))
			out = append(out, p[i:j]...)
			i = j
			continue
		}
		j := i + 1
		for j < len(p) && p[j] >= '0' && p[j] <= '9' {
			j++
		}
		if j > i+1 && j < len(p) && p[j] == ']' {
			out = append(out, "[*]"...)
			i = j + 1
			continue
		}
		out = append(out, '[')
		i++
	}
	return string(out)
}

// AppendHeaderNoise appends to keys the noise entry of the header called name, for
// Noise.Observe when legacy's two answers differ in it.
func AppendHeaderNoise(keys []string, name string) []string {
	return append(keys, noiseHeaderPrefix+strings.ToLower(name))
}
