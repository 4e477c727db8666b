package fleet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/edged/edged/strangler/migrate"
)

// The gate-window wire format, version 1. One message holds some routes of
// one window of one node (a window too large for one message is split into
// parts that share Seq). Integers are unsigned varints (encoding/binary).
//
//	message = version:byte(1) seq:uvarint span_ms:uvarint count:uvarint route*count
//	route   = name_len:byte(1..255) name mask:byte(!=0) field*
//	field   = counter:uvarint(>0)          for mask bits 0,1,3,4,6,7
//	        | hist                         for mask bits 2,5
//	hist    = n:byte(1..64) (gap:uvarint count:uvarint(>0))*n
//
// Mask bits, in the order their fields follow: 0 legacy requests, 1 legacy
// errors, 2 legacy latency, 3 isolate requests, 4 isolate errors, 5 isolate
// latency, 6 shadow comparisons, 7 shadow mismatches. A field is present
// exactly when it is not zero, and a route is present only when something
// changed, so an idle route costs nothing and a busy one a few dozen bytes.
// A histogram lists its non-empty buckets: the first index is its gap, each
// next index is the previous one plus 1 plus its gap.
//
// Windows carry deltas (what happened during the window), not cumulative
// counters: the receiver only adds, a new leader needs no baseline, and a
// restarted node needs no special case. The price is that a lost message
// loses its counts; Seq makes the loss visible.
const windowVersion = 1

// Bounds of the decoder: every byte from the network is untrusted.
const (
	// MaxWindowMessage is the largest window message accepted, in bytes
	// (NATS's default max_payload is 1 MiB).
	MaxWindowMessage = 1 << 20
	// maxSpan is the longest window span accepted.
	maxSpan = time.Hour
	// minRouteBytes is the smallest encoded route: name length, one name
	// byte, mask, one field byte.
	minRouteBytes = 4
)

var errWindow = errors.New("fleet: malformed gate window")

// windowHeader is the fixed part of a window message.
type windowHeader struct {
	seq    uint64
	span   time.Duration
	routes int
}

// routeWindow is one route's outcomes during one window. name aliases the
// message it was decoded from.
type routeWindow struct {
	name []byte
	s    migrate.Sample
}

// appendWindowHeader appends a message header announcing count routes.
func appendWindowHeader(dst []byte, seq uint64, span time.Duration, count int) []byte {
	dst = append(dst, windowVersion)
	dst = binary.AppendUvarint(dst, seq)
	dst = binary.AppendUvarint(dst, uint64(span/time.Millisecond))
	return binary.AppendUvarint(dst, uint64(count))
}

// appendRoute appends route name's window s, which must not be zero. name is
// 1 to 255 bytes (route names are at most 128).
func appendRoute(dst []byte, name string, s *migrate.Sample) []byte {
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	maskAt := len(dst)
	dst = append(dst, 0)
	var mask byte
	counter := func(bit byte, v uint64) {
		if v != 0 {
			mask |= 1 << bit
			dst = binary.AppendUvarint(dst, v)
		}
	}
	hist := func(bit byte, h *migrate.Histogram) {
		n := 0
		for _, c := range h {
			if c != 0 {
				n++
			}
		}
		if n == 0 {
			return
		}
		mask |= 1 << bit
		dst = append(dst, byte(n))
		next := 0 // the index a gap of 0 means
		for i, c := range h {
			if c != 0 {
				dst = binary.AppendUvarint(dst, uint64(i-next))
				dst = binary.AppendUvarint(dst, c)
				next = i + 1
			}
		}
	}
	counter(0, s.Legacy.Requests)
	counter(1, s.Legacy.Errors)
	hist(2, &s.Legacy.Latency)
	counter(3, s.Isolate.Requests)
	counter(4, s.Isolate.Errors)
	hist(5, &s.Isolate.Latency)
	counter(6, s.ShadowCompared)
	counter(7, s.ShadowMismatches)
	dst[maskAt] = mask
	return dst
}

// decodeWindow checks a whole window message and then, if fn is not nil,
// calls it with each route in order. fn's routeWindow (and its name) is valid
// only during the call. A malformed message calls fn never.
func decodeWindow(b []byte, fn func(*routeWindow)) (windowHeader, error) {
	h, rest, err := readWindowHeader(b)
	if err != nil {
		return h, err
	}
	var rw routeWindow
	// First pass: validate everything, so a bad message changes nothing.
	r := rest
	for i := 0; i < h.routes; i++ {
		if r, err = readRoute(r, &rw); err != nil {
			return h, fmt.Errorf("%w: route %d: %w", errWindow, i, err)
		}
	}
	if len(r) != 0 {
		return h, fmt.Errorf("%w: %d trailing bytes", errWindow, len(r))
	}
	if fn == nil {
		return h, nil
	}
	r = rest
	for i := 0; i < h.routes; i++ {
		r, _ = readRoute(r, &rw)
		fn(&rw)
	}
	return h, nil
}

func readWindowHeader(b []byte) (windowHeader, []byte, error) {
	var h windowHeader
	if len(b) > MaxWindowMessage {
		return h, nil, fmt.Errorf("%w: %d bytes, over %d", errWindow, len(b), MaxWindowMessage)
	}
	if len(b) == 0 || b[0] != windowVersion {
		return h, nil, fmt.Errorf("%w: not version %d", errWindow, windowVersion)
	}
	b = b[1:]
	var ok bool
	if h.seq, b, ok = uvarint(b); !ok || h.seq == 0 {
		return h, nil, fmt.Errorf("%w: seq", errWindow)
	}
	ms, b, ok := uvarint(b)
	if !ok || ms > uint64(maxSpan/time.Millisecond) {
		return h, nil, fmt.Errorf("%w: span", errWindow)
	}
	h.span = time.Duration(ms) * time.Millisecond
	n, b, ok := uvarint(b)
	// The count is bounded by what the bytes left can hold, so no caller
	// sizes anything by an unchecked number.
	if !ok || n > uint64(len(b)/minRouteBytes) {
		return h, nil, fmt.Errorf("%w: route count", errWindow)
	}
	h.routes = int(n)
	return h, b, nil
}

// readRoute reads one route into rw, overwriting all of it.
func readRoute(b []byte, rw *routeWindow) ([]byte, error) {
	if len(b) < 1 {
		return nil, errors.New("truncated")
	}
	n := int(b[0])
	if n == 0 || len(b) < 1+n+1 {
		return nil, errors.New("name")
	}
	rw.name = b[1 : 1+n]
	mask := b[1+n]
	b = b[2+n:]
	if mask == 0 {
		return nil, errors.New("empty mask")
	}
	rw.s = migrate.Sample{}
	var err error
	counter := func(bit byte, v *uint64) {
		if err != nil || mask&(1<<bit) == 0 {
			return
		}
		var ok bool
		if *v, b, ok = uvarint(b); !ok || *v == 0 {
			err = fmt.Errorf("field %d", bit)
		}
	}
	hist := func(bit byte, h *migrate.Histogram) {
		if err != nil || mask&(1<<bit) == 0 {
			return
		}
		if len(b) < 1 || b[0] == 0 || int(b[0]) > migrate.NumBuckets {
			err = fmt.Errorf("field %d: bucket count", bit)
			return
		}
		k := int(b[0])
		b = b[1:]
		next := uint64(0)
		for j := 0; j < k; j++ {
			gap, rest, ok := uvarint(b)
			if !ok || gap >= uint64(migrate.NumBuckets)-next {
				err = fmt.Errorf("field %d: bucket index", bit)
				return
			}
			idx := next + gap
			c, rest, ok := uvarint(rest)
			if !ok || c == 0 {
				err = fmt.Errorf("field %d: bucket count", bit)
				return
			}
			h[idx] = c
			next, b = idx+1, rest
		}
	}
	counter(0, &rw.s.Legacy.Requests)
	counter(1, &rw.s.Legacy.Errors)
	hist(2, &rw.s.Legacy.Latency)
	counter(3, &rw.s.Isolate.Requests)
	counter(4, &rw.s.Isolate.Errors)
	hist(5, &rw.s.Isolate.Latency)
	counter(6, &rw.s.ShadowCompared)
	counter(7, &rw.s.ShadowMismatches)
	return b, err
}

// uvarint reads an unsigned varint, refusing overflow and truncation.
func uvarint(b []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, false
	}
	return v, b[n:], true
}
