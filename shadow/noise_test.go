package shadow

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestAppendBodyNoise(t *testing.T) {
	tests := []struct {
		name   string
		b1, b2 string
		ignore []string
		want   []string // after observe's dedupe, sorted
	}{
		{"same", `{"a":1}`, `{"a":1}`, nil, nil},
		{"every difference", `{"a":1,"b":{"c":"x"},"d":2}`, `{"a":2,"b":{"c":"y"},"d":2}`, nil, []string{"$.a", "$.b.c"}},
		{"indices normalised", `{"items":[{"id":1,"t":1},{"id":2,"t":2}]}`, `{"items":[{"id":1,"t":3},{"id":2,"t":4}]}`,
			nil, []string{"$.items[*].t"}},
		{"missing element", `[1]`, `[1,2,3]`, nil, []string{"$[*]"}},
		{"ignored paths are not noise", `{"a":1,"b":1}`, `{"a":2,"b":2}`, []string{"$.a"}, []string{"$.b"}},
		{"odd member names", `{"x[1]":{"a b":[1]}}`, `{"x[1]":{"a b":[2]}}`, nil, []string{`$["x[1]"]["a b"][*]`}},
		{"bytes", "call 1", "call 2", nil, []string{"body"}},
		{"equal bytes", "call", "call", nil, nil},
		{"JSON against bytes", `{"a":1}`, "oops", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rules []Path
			for _, s := range tc.ignore {
				rules = append(rules, mustParsePath(t, s))
			}
			var n Noise
			n.Observe(AppendBodyNoise(nil, []byte(tc.b1), []byte(tc.b2), rules))
			if got := n.List(); !slices.Equal(got, tc.want) {
				t.Errorf("AppendBodyNoise(%q, %q) = %q, want %q", tc.b1, tc.b2, got, tc.want)
			}
		})
	}
}

func mustParsePath(t testing.TB, s string) Path {
	t.Helper()
	p, err := ParsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNoiseBounded floods a set that already knows a few frequent entries.
func TestNoiseBounded(t *testing.T) {
	var n Noise
	frequent := []string{"$.generated_at", "$.request_id", "header:date"}
	for range 5 {
		n.Observe(slices.Clone(frequent))
	}
	for i := range 1000 {
		n.Observe([]string{fmt.Sprintf("$.flood%d", i), fmt.Sprintf("$.more%d", i)})
		if got := len(n.List()); got > maxNoise {
			t.Fatalf("after %d floods the set holds %d entries, want at most %d", i+1, got, maxNoise)
		}
	}
	got := n.List()
	if len(got) != maxNoise {
		t.Errorf("set holds %d entries, want %d", len(got), maxNoise)
	}
	for _, k := range frequent {
		if !slices.Contains(got, k) {
			t.Errorf("frequent entry %q was evicted by the flood", k)
		}
	}
	// The flood also passes through a real baseline: one answer with many distinct
	// members costs at most maxNoiseDiffs differences.
	var b1, b2 strings.Builder
	b1.WriteString("{")
	b2.WriteString("{")
	for i := range 1000 {
		if i > 0 {
			b1.WriteString(",")
			b2.WriteString(",")
		}
		fmt.Fprintf(&b1, `"m%04d":1`, i)
		fmt.Fprintf(&b2, `"m%04d":2`, i)
	}
	b1.WriteString("}")
	b2.WriteString("}")
	keys := AppendBodyNoise(nil, []byte(b1.String()), []byte(b2.String()), nil)
	if len(keys) != maxNoiseDiffs {
		t.Errorf("AppendBodyNoise of 1000 differences = %d keys, want %d", len(keys), maxNoiseDiffs)
	}
	n.Observe(keys)
	if got := n.List(); len(got) != maxNoise || !slices.Contains(got, "$.request_id") {
		t.Errorf("after a 1000-member baseline the set = %d entries (request_id kept: %v), want %d with it",
			len(got), slices.Contains(got, "$.request_id"), maxNoise)
	}
}

// TestNoiseConcurrent hammers observe, has and list together (run with -race).
func TestNoiseConcurrent(t *testing.T) {
	var n Noise
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				n.Observe([]string{"$.a", "$.k" + strconv.Itoa((g*500+i)%200)})
				n.has([]byte("$.a"))
				n.hasHeader("Date")
				_ = n.List()
			}
		})
	}
	wg.Wait()
	if !n.has([]byte("$.a")) || len(n.List()) > maxNoise {
		t.Errorf("after the hammer has($.a) = %v with %d entries, want true with at most %d",
			n.has([]byte("$.a")), len(n.List()), maxNoise)
	}
}

func TestNoiseSample(t *testing.T) {
	tests := []struct {
		rate  float64
		want  int // of 100 calls
		first bool
	}{
		{0.1, 10, true},
		{0.25, 25, true},
		{1, 100, true},
		{7, 100, true},
		{0, 0, false},
		{-1, 0, false},
		{math.NaN(), 0, false},
	}
	for _, tc := range tests {
		t.Run(strconv.FormatFloat(tc.rate, 'g', -1, 64), func(t *testing.T) {
			var n Noise
			got, first := 0, n.Sample(tc.rate)
			if first {
				got++
			}
			for range 99 {
				if n.Sample(tc.rate) {
					got++
				}
			}
			if got != tc.want || first != tc.first {
				t.Errorf("sample(%v) over 100 calls = %d (first %v), want %d (first %v)", tc.rate, got, first, tc.want, tc.first)
			}
		})
	}
}

func TestNormalizePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"$", "$"},
		{"$.generated_at", "$.generated_at"},
		{"$.items[3].id", "$.items[*].id"},
		{"$.items[7].id", "$.items[*].id"},
		{"$[0][12][345]", "$[*][*][*]"},
		{"$.a[*].b", "$.a[*].b"},
		{`$["a[1]"][2]`, `$["a[1]"][*]`},
		{`$["q\"[1]"][2]`, `$["q\"[1]"][*]`},
		{`$["back\\"][2]`, `$["back\\"][*]`},
		{`$["open`, `$["open`},
		{"$[", "$["},
		{"$[12", "$[12"},
		{"$[]", "$[]"},
		{"$[x]", "$[x]"},
		{"header:x-request-id", "header:x-request-id"},
		{"body", "body"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := normalizePath(tc.in); got != tc.want {
				t.Errorf("normalizePath(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzNormalizePath checks that the normaliser never panics, is idempotent,
// and agrees with appendNoiseKey on every
// position formatPath can render (the learning side and the lookup side of the set).
func FuzzNormalizePath(f *testing.F) {
	f.Add("items/3/id", uint64(0b010))
	f.Add(`a b/"q"/x[1]/0`, uint64(0b1000))
	f.Add(`\/[7]/`, uint64(0b11))
	f.Add("", uint64(0))
	f.Fuzz(func(t *testing.T, raw string, mask uint64) {
		once := normalizePath(raw)
		if twice := normalizePath(once); twice != once {
			t.Errorf("normalizePath(%q) = %q, but again = %q", raw, once, twice)
		}
		if !strings.Contains(raw, "[") && once != raw {
			t.Errorf("normalizePath(%q) = %q, want it unchanged", raw, once)
		}
		var at []step
		for i, part := range strings.Split(raw, "/") {
			if i < 64 && mask>>i&1 == 1 {
				at = append(at, step{kind: stepIndex, index: len(part) * 37})
			} else {
				at = append(at, step{kind: stepMember, name: part})
			}
		}
		concrete := formatPath(at)
		got, want := normalizePath(concrete), string(appendNoiseKey(nil, at))
		if got != want {
			t.Errorf("normalizePath(%q) = %q, want appendNoiseKey's %q", concrete, got, want)
		}
	})
}

// BenchmarkCompareBodiesNoise is BenchmarkCompareBodies with the volatile fields
// learnt as noise instead of configured as ignore rules.
func BenchmarkCompareBodiesNoise(b *testing.B) {
	legacy := []byte(`{"users":[{"id":1,"name":"Ada","email":"ada@example.com"},{"id":2,"name":"Grace","email":"g@example.com"}],"generated_at":"2026-01-01T00:00:00Z","request_id":"abc"}`)
	iso := []byte(`{"users":[{"id":1,"name":"Ada","email":"ada@example.com"},{"id":2,"name":"Grace","email":"g@example.com"}],"generated_at":"2026-01-01T00:00:01Z","request_id":"def"}`)
	var n Noise
	n.Observe([]string{"$.generated_at", "$.request_id"})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, eq := CompareBodies(legacy, iso, nil, &n); !eq {
			b.Fatal("not equal")
		}
	}
}
