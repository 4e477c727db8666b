package abi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"testing"
)

func TestSplitCountLen(t *testing.T) {
	tests := []struct {
		name     string
		v        uint64
		count, n uint32
	}{
		{"empty", 0, 0, 0},
		{"one name", 1<<32 | 7, 1, 7},
		{"two names", 2<<32 | 28, 2, 28},
		{"max", 0xFFFFFFFF_FFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			count, n := SplitCountLen(tc.v)
			if count != tc.count || n != tc.n {
				t.Errorf("SplitCountLen(%#x) = %d, %d, want %d, %d", tc.v, count, n, tc.count, tc.n)
			}
		})
	}
}

func TestSplitEOFLen(t *testing.T) {
	tests := []struct {
		name string
		v    uint64
		eof  bool
		n    uint32
	}{
		{"eof no bytes", 1 << 32, true, 0},
		{"more to come", 16, false, 16},
		{"eof with bytes", 1<<32 | 5, true, 5},
		{"zero", 0, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eof, n := SplitEOFLen(tc.v)
			if eof != tc.eof || n != tc.n {
				t.Errorf("SplitEOFLen(%#x) = %v, %d, want %v, %d", tc.v, eof, n, tc.eof, tc.n)
			}
		})
	}
}

func TestCtxNext(t *testing.T) {
	tests := []struct {
		name string
		ctx  uint32
		next bool
		want uint64
	}{
		{"skip", 0, false, 0},
		{"next", 0, true, 1},
		{"next with ctx", 16, true, 68719476737},
		{"ctx ignored without next", 16, false, 68719476736},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CtxNext(tc.ctx, tc.next); got != tc.want {
				t.Errorf("CtxNext(%d, %v) = %d, want %d", tc.ctx, tc.next, got, tc.want)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		count   uint32
		want    []string
		wantErr error
	}{
		{"empty", "", 0, nil, nil},
		{"one", "Accept\x00", 1, []string{"Accept"}, nil},
		{"two", "Content-Type\x00Content-Length\x00", 2, []string{"Content-Type", "Content-Length"}, nil},
		{"empty string", "\x00", 1, []string{""}, nil},
		{"unterminated", "Accept", 1, nil, ErrMalformed},
		{"count too small", "a\x00b\x00", 1, nil, ErrMalformed},
		{"count too large", "a\x00", 2, nil, ErrMalformed},
		{"count without data", "", 1, nil, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := ParseList([]byte(tc.in), tc.count, func(s []byte) { got = append(got, string(s)) })
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ParseList(%q, %d) error = %v, want %v", tc.in, tc.count, err, tc.wantErr)
			}
			if err == nil && !slices.Equal(got, tc.want) {
				t.Errorf("ParseList(%q, %d) = %q, want %q", tc.in, tc.count, got, tc.want)
			}
		})
	}
}

func TestParsePairs(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // name, value, name, value...
		wantErr error
	}{
		{"empty", "", nil, nil},
		{"one", "content-type\x00text/plain\x00", []string{"content-type", "text/plain"}, nil},
		{"repeated", "set-cookie\x00a=b\x00set-cookie\x00c=d\x00", []string{"set-cookie", "a=b", "set-cookie", "c=d"}, nil},
		{"empty value", "x\x00\x00", []string{"x", ""}, nil},
		{"name without value", "x\x00", nil, ErrMalformed},
		{"unterminated value", "x\x00y", nil, ErrMalformed},
		{"unterminated name", "x", nil, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := ParsePairs([]byte(tc.in), func(n, v []byte) { got = append(got, string(n), string(v)) })
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ParsePairs(%q) error = %v, want %v", tc.in, err, tc.wantErr)
			}
			if err == nil && !slices.Equal(got, tc.want) {
				t.Errorf("ParsePairs(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestAppendRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		kv   []string
	}{
		{"none", nil},
		{"one", []string{"a", "b"}},
		{"empties", []string{"", ""}},
		{"several", []string{"accept", "*/*", "x-multi", "1", "x-multi", "2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b []byte
			for i := 0; i < len(tc.kv); i += 2 {
				b = AppendPair(b, tc.kv[i], tc.kv[i+1])
			}
			var got []string
			if err := ParsePairs(b, func(n, v []byte) { got = append(got, string(n), string(v)) }); err != nil {
				t.Fatalf("ParsePairs(AppendPair(%q)) error = %v", tc.kv, err)
			}
			if !slices.Equal(got, tc.kv) {
				t.Errorf("ParsePairs(AppendPair(%q)) = %q, want %q", tc.kv, got, tc.kv)
			}
			l := AppendList(nil, tc.kv...)
			got = got[:0]
			if err := ParseList(l, uint32(len(tc.kv)), func(s []byte) { got = append(got, string(s)) }); err != nil {
				t.Fatalf("ParseList(AppendList(%q)) error = %v", tc.kv, err)
			}
			if !slices.Equal(got, tc.kv) {
				t.Errorf("ParseList(AppendList(%q)) = %q, want %q", tc.kv, got, tc.kv)
			}
		})
	}
}

func TestValidString(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", true}, {"abc", true}, {"a\x00b", false}, {"\x00", false}, {"é", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := ValidString(tc.in); got != tc.want {
				t.Errorf("ValidString(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestCodeKind(t *testing.T) {
	tests := []struct {
		code int32
		want string
	}{
		{CodeEgressDenied, "egress_denied"},
		{CodeBudget, "budget"},
		{CodeTimeout, "timeout"},
		{CodeTooLarge, "too_large"},
		{CodeNetwork, "network"},
		{CodeInvalid, "invalid"},
		{CodeBadHandle, "bad_handle"},
		{CodeTooManyHandles, "too_many_handles"},
		{-11, "unknown"},
		{1, "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := CodeKind(tc.code); got != tc.want {
				t.Errorf("CodeKind(%d) = %q, want %q", tc.code, got, tc.want)
			}
		})
	}
}

func TestPublishCodeKind(t *testing.T) {
	tests := []struct {
		code int32
		want string
	}{
		{CodeEgressDenied, "denied"},
		{CodeBudget, "budget"},
		{CodeTooLarge, "too_large"},
		{CodeInvalid, "invalid"},
		{CodeUnavailable, "unavailable"},
		{CodePublishFailed, "publish_failed"},
		{CodeTimeout, "unknown"},
		{-11, "unknown"},
		{0, "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.want+fmt.Sprint(tc.code), func(t *testing.T) {
			if got := PublishCodeKind(tc.code); got != tc.want {
				t.Errorf("PublishCodeKind(%d) = %q, want %q", tc.code, got, tc.want)
			}
		})
	}
}

func TestFetchReadError(t *testing.T) {
	tests := []struct {
		name  string
		v     int64
		code  int32
		isErr bool
	}{
		{"bytes", 16, 0, false},
		{"eof", 1 << 32, 0, false},
		{"bad handle", -7, CodeBadHandle, true},
		{"too large", -4, CodeTooLarge, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, isErr := FetchReadError(tc.v)
			if code != tc.code || isErr != tc.isErr {
				t.Errorf("FetchReadError(%d) = %d, %v, want %d, %v", tc.v, code, isErr, tc.code, tc.isErr)
			}
		})
	}
}

func TestDiffHeader(t *testing.T) {
	tests := []struct {
		name          string
		before, after http.Header
		want          []string // "-Name" or "Name=v1,v2", sorted
	}{
		{"unchanged", http.Header{"A": {"1"}}, http.Header{"A": {"1"}}, nil},
		{"removed", http.Header{"A": {"1"}, "B": {"2"}}, http.Header{"A": {"1"}}, []string{"-B"}},
		{"emptied counts as removed", http.Header{"A": {"1"}}, http.Header{"A": {}}, []string{"-A"}},
		{"added", http.Header{}, http.Header{"X-User": {"demo"}}, []string{"X-User=demo"}},
		{"changed", http.Header{"A": {"1"}}, http.Header{"A": {"2"}}, []string{"A=2"}},
		{"value appended", http.Header{"A": {"1"}}, http.Header{"A": {"1", "2"}}, []string{"A=1,2"}},
		{"mixed", http.Header{"Authorization": {"Bearer t"}, "Keep": {"k"}},
			http.Header{"Keep": {"k"}, "X-User": {"demo"}}, []string{"-Authorization", "X-User=demo"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			DiffHeader(tc.before, tc.after, func(op HeaderOp) {
				if op.Values == nil {
					got = append(got, "-"+op.Name)
					return
				}
				s := op.Name + "="
				for i, v := range op.Values {
					if i > 0 {
						s += ","
					}
					s += v
				}
				got = append(got, s)
			})
			sort.Strings(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("DiffHeader(%v, %v) = %q, want %q", tc.before, tc.after, got, tc.want)
			}
		})
	}
}

// TestDiffHeaderApplies checks the property the SDK relies on: applying the
// operations to before yields after (ignoring empty value lists).
func TestDiffHeaderApplies(t *testing.T) {
	before := http.Header{"A": {"1"}, "B": {"2", "3"}, "C": {"4"}}
	after := http.Header{"A": {"1"}, "B": {"3"}, "D": {"5", "6"}}
	h := before.Clone()
	DiffHeader(before, after, func(op HeaderOp) {
		if op.Values == nil {
			delete(h, op.Name)
			return
		}
		h[op.Name] = slices.Clone(op.Values)
	})
	if len(h) != len(after) {
		t.Fatalf("DiffHeader applied = %v, want %v", h, after)
	}
	for k, vs := range after {
		if !slices.Equal(h[k], vs) {
			t.Errorf("DiffHeader applied[%q] = %q, want %q", k, h[k], vs)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	b := AppendPair(nil, "content-type", "text/plain")
	b = AppendPair(b, "content-length", "12")
	allocs := testing.AllocsPerRun(100, func() {
		_ = ParsePairs(b, func(n, v []byte) {})
	})
	if allocs != 0 {
		t.Errorf("ParsePairs allocs = %v, want 0", allocs)
	}
}
