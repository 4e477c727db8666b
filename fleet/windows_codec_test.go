package fleet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/strangler/migrate"
)

// decodedRoute is a routeWindow that owns its name.
type decodedRoute struct {
	name string
	s    migrate.Sample
}

func decodeAll(b []byte) (windowHeader, []decodedRoute, error) {
	var out []decodedRoute
	h, err := decodeWindow(b, func(rw *routeWindow) { out = append(out, decodedRoute{string(rw.name), rw.s}) })
	return h, out, err
}

func encodeAll(seq uint64, span time.Duration, routes []decodedRoute) []byte {
	b := appendWindowHeader(nil, seq, span, len(routes))
	for i := range routes {
		b = appendRoute(b, routes[i].name, &routes[i].s)
	}
	return b
}

// busy is a route window with traffic on every field, latencies spread over
// buckets as a real route's are.
func busy(reqs uint64) migrate.Sample {
	var s migrate.Sample
	s.Legacy.Requests, s.Legacy.Errors = reqs, reqs/50+1
	s.Isolate.Requests, s.Isolate.Errors = reqs/2+1, reqs/100+1
	for i, d := range []time.Duration{800 * time.Microsecond, 1200 * time.Microsecond, 2 * time.Millisecond, 3 * time.Millisecond, 5 * time.Millisecond, 9 * time.Millisecond, 40 * time.Millisecond} {
		s.Legacy.Latency[migrate.BucketOf(d)] += reqs / (uint64(i) + 2)
		s.Isolate.Latency[migrate.BucketOf(d/2)] += reqs/(uint64(i)+4) + 1
	}
	s.ShadowCompared, s.ShadowMismatches = reqs/3+1, 1
	return s
}

func TestWindowRoundTrip(t *testing.T) {
	var edges migrate.Sample
	edges.Legacy.Requests = 1<<64 - 1
	edges.Isolate.Latency[0] = 1
	edges.Isolate.Latency[migrate.NumBuckets-1] = 1<<64 - 1
	var full migrate.Sample
	for i := range full.Legacy.Latency {
		full.Legacy.Latency[i] = uint64(i) + 1
	}
	var one migrate.Sample
	one.ShadowMismatches = 1
	tests := []struct {
		name   string
		seq    uint64
		span   time.Duration
		routes []decodedRoute
	}{
		{"heartbeat", 1, time.Second, nil},
		{"one busy route", 7, 1003 * time.Millisecond, []decodedRoute{{"users", busy(100)}}},
		{"edges", 1<<64 - 1, maxSpan, []decodedRoute{{"e", edges}, {strings.Repeat("n", 255), full}, {"x", one}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeAll(tc.seq, tc.span, tc.routes)
			h, got, err := decodeAll(b)
			if err != nil {
				t.Fatalf("decode(encode) = %v", err)
			}
			if h.seq != tc.seq || h.span != tc.span || h.routes != len(tc.routes) {
				t.Errorf("header = %+v, want seq %d span %v routes %d", h, tc.seq, tc.span, len(tc.routes))
			}
			if len(got) != len(tc.routes) {
				t.Fatalf("decoded %d routes, want %d", len(got), len(tc.routes))
			}
			for i := range got {
				if got[i] != tc.routes[i] {
					t.Errorf("route %d = %+v, want %+v", i, got[i], tc.routes[i])
				}
			}
		})
	}
}

func TestDecodeWindowRejects(t *testing.T) {
	valid := encodeAll(3, time.Second, []decodedRoute{{"r", busy(10)}})
	route := func(parts ...[]byte) []byte {
		b := appendWindowHeader(nil, 1, time.Second, 1)
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"wrong version", append([]byte{2}, valid[1:]...)},
		{"seq zero", appendWindowHeader(nil, 0, time.Second, 0)},
		{"span too long", appendWindowHeader(nil, 1, maxSpan+time.Millisecond, 0)},
		{"truncated header", valid[:2]},
		{"count beyond the bytes", appendWindowHeader(nil, 1, time.Second, 1000)},
		{"varint overflow", append([]byte{1}, bytes.Repeat([]byte{0xff}, 11)...)},
		{"trailing bytes", append(append([]byte(nil), valid...), 0)},
		{"truncated route", valid[:len(valid)-1]},
		{"empty name", route([]byte{0, 1}, uv(1), []byte{0})},
		{"empty mask", route([]byte{1, 'r', 0}, uv(0), uv(0))},
		{"zero counter", route([]byte{1, 'r', 1}, uv(0), []byte{0})},
		{"no buckets", route([]byte{1, 'r', 1 << 2, 0}, uv(0), uv(0))},
		{"too many buckets", route([]byte{1, 'r', 1 << 2, 65}, uv(0), uv(1))},
		{"bucket index 64", route([]byte{1, 'r', 1 << 2, 1}, uv(64), uv(1))},
		{"bucket index past the end", route([]byte{1, 'r', 1 << 2, 2}, uv(63), uv(1), uv(0), uv(1))},
		{"zero bucket count", route([]byte{1, 'r', 1 << 2, 1}, uv(3), uv(0))},
		{"too big", append(append([]byte(nil), valid...), make([]byte, MaxWindowMessage)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			_, err := decodeWindow(tc.b, func(*routeWindow) { called = true })
			if !errors.Is(err, errWindow) {
				t.Errorf("decodeWindow(%x...) = %v, want errWindow", tc.b[:min(len(tc.b), 16)], err)
			}
			if called {
				t.Error("a malformed message reached the callback")
			}
		})
	}
	if _, err := decodeWindow(valid, nil); err != nil {
		t.Fatalf("the valid base message: %v", err)
	}
}

// FuzzDecodeWindow feeds the decoder what the network could: it must never
// panic, must accept only what it can encode again to the same routes, and
// every route it accepts carries something.
func FuzzDecodeWindow(f *testing.F) {
	f.Add(encodeAll(1, time.Second, nil))
	f.Add(encodeAll(9, 999*time.Millisecond, []decodedRoute{{"users", busy(100)}, {"orders", busy(3)}}))
	var one migrate.Sample
	one.Isolate.Latency[migrate.NumBuckets-1] = 5
	f.Add(encodeAll(2, 0, []decodedRoute{{"z", one}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, routes, err := decodeAll(b)
		if err != nil {
			return
		}
		for _, r := range routes {
			if r.name == "" || len(r.name) > 255 || r.s == (migrate.Sample{}) {
				t.Fatalf("accepted route %+v", r)
			}
		}
		again := encodeAll(h.seq, h.span, routes)
		h2, routes2, err := decodeAll(again)
		if err != nil {
			t.Fatalf("re-encoded message rejected: %v", err)
		}
		if h2 != h || len(routes2) != len(routes) {
			t.Fatalf("re-encoded header %+v (%d routes), want %+v (%d)", h2, len(routes2), h, len(routes))
		}
		for i := range routes {
			if routes2[i] != routes[i] {
				t.Fatalf("route %d = %+v after re-encoding, want %+v", i, routes2[i], routes[i])
			}
		}
	})
}
