package shadow

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		in   string
		want string // formatPath of the parse, or "" for an error
	}{
		{"$", "$"},
		{"$.a", "$.a"},
		{"$.items[*].id", "$.items[*].id"},
		{"$.meta.*", "$.meta.*"},
		{"$.list[12]", "$.list[12]"},
		{"", ""},
		{"a", ""},
		{"$.", ""},
		{"$..x", ""},
		{"$[", ""},
		{"$[x]", ""},
		{"$[1", ""},
		{"$[1234567890]", ""},
		{"$ .a", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParsePath(tc.in)
			if tc.want == "" {
				if !errors.Is(err, ErrBadPath) {
					t.Errorf("ParsePath(%q) = %v, want ErrBadPath", tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePath(%q) = %v", tc.in, err)
			}
			if got := formatRule(p); got != tc.want {
				t.Errorf("ParsePath(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// formatRule renders a rule, wildcards included, for the test.
func formatRule(p Path) string {
	s := "$"
	for _, st := range p {
		switch st.kind {
		case stepAnyMember:
			s += ".*"
		case stepAnyIndex:
			s += "[*]"
		default:
			s += formatPath([]step{st})[1:]
		}
	}
	return s
}

func TestCompareBodies(t *testing.T) {
	tests := []struct {
		name         string
		legacy, iso  string
		ignore       []string
		wantPath     string
		wantA, wantB string
		wantEqual    bool
	}{
		{"equal bytes", "hello", "hello", nil, "", "", "", true},
		{"different bytes", "hello", "hullo", nil, "", "hello", "hullo", false},
		{"member order and space", `{"a":1,"b":[1,2]}`, "{ \"b\": [1, 2],\n \"a\": 1 }", nil, "", "", "", true},
		{"numbers by value", `{"n":1.0}`, `{"n":1}`, nil, "", "", "", true},
		{"nested difference", `{"a":{"b":[1,2,3]}}`, `{"a":{"b":[1,2,4]}}`, nil, "$.a.b[2]", "3", "4", false},
		{"missing member", `{"a":1,"b":2}`, `{"a":1}`, nil, "$.b", "2", "(missing)", false},
		{"extra element", `[1]`, `[1,2]`, nil, "$[1]", "(missing)", "2", false},
		{"type change", `{"a":"1"}`, `{"a":1}`, nil, "$.a", `"1"`, "1", false},
		{"ignored field", `{"t":"x","v":1}`, `{"t":"y","v":1}`, []string{"$.t"}, "", "", "", true},
		{"ignored missing field", `{"t":"x","v":1}`, `{"v":1}`, []string{"$.t"}, "", "", "", true},
		{"ignored in every element", `{"items":[{"id":1,"n":"a"},{"id":2,"n":"b"}]}`,
			`{"items":[{"id":9,"n":"a"},{"id":8,"n":"b"}]}`, []string{"$.items[*].id"}, "", "", "", true},
		{"wildcard keeps others", `{"items":[{"id":1,"n":"a"}]}`, `{"items":[{"id":9,"n":"z"}]}`,
			[]string{"$.items[*].id"}, "$.items[0].n", `"a"`, `"z"`, false},
		{"any member", `{"meta":{"a":1,"b":2},"x":1}`, `{"meta":{"a":3},"x":1}`, []string{"$.meta.*"}, "", "", "", true},
		{"one index", `[1,2,3]`, `[1,9,3]`, []string{"$[1]"}, "", "", "", true},
		{"whole document", `{"a":1}`, `{"a":2}`, []string{"$"}, "", "", "", true},
		{"odd member name", `{"a b":1}`, `{"a b":2}`, nil, `$["a b"]`, "1", "2", false},
		{"one side not JSON", `{"a":1}`, `{"a":1`, nil, "", `{"a":1}`, `{"a":1`, false},
		{"trailing data is not JSON", `{"a":1} x`, `{"a":1} x`, nil, "", "", "", true},
		{"scalars compare as bytes", `1.0`, `1`, nil, "", "1.0", "1", false},
		{"numbers as written", `{"n":1e2}`, `{"n":100}`, nil, "", "", "", true},
		{"number against string", `{"a":1}`, `{"a":"1"}`, nil, "$.a", "1", `"1"`, false},
		{"null against false", `{"a":null}`, `{"a":false}`, nil, "$.a", "null", "false", false},
		{"object against array", `{"a":{}}`, `{"a":[]}`, nil, "$.a", "{}", "[]", false},
		{"array against object", `{"a":[1]}`, `{"a":{"0":1}}`, nil, "$.a", "[1]", `{"0":1}`, false},
		{"first difference by member name", `{"b":1,"a":1}`, `{"b":2,"a":2}`, nil, "$.a", "1", "2", false},
		{"extra member", `{"a":1}`, `{"a":1,"z":2}`, nil, "$.z", "(missing)", "2", false},
		{"missing element", `[1,2]`, `[1]`, nil, "$[1]", "2", "(missing)", false},
		{"ignored missing element", `[1,2]`, `[1]`, []string{"$[1]"}, "", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rules []Path
			for _, s := range tc.ignore {
				p, err := ParsePath(s)
				if err != nil {
					t.Fatal(err)
				}
				rules = append(rules, p)
			}
			path, a, b, eq := CompareBodies([]byte(tc.legacy), []byte(tc.iso), rules, nil)
			if path != tc.wantPath || a != tc.wantA || b != tc.wantB || eq != tc.wantEqual {
				t.Errorf("CompareBodies(%q, %q, %q, nil) = %q, %q, %q, %v; want %q, %q, %q, %v", tc.legacy, tc.iso, tc.ignore,
					path, a, b, eq, tc.wantPath, tc.wantA, tc.wantB, tc.wantEqual)
			}
		})
	}
}

// FuzzCompareJSON checks that the comparer never panics, that a body always equals
// itself, and that equality is symmetric, whatever the bodies and ignore rule.
func FuzzCompareJSON(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":[1,2]}`), []byte(`{"b":[1,2],"a":1}`), "$.a")
	f.Add([]byte(`{"items":[{"id":1}]}`), []byte(`{"items":[{"id":2}]}`), "$.items[*].id")
	f.Add([]byte(`[1,2,3]`), []byte(`[1,2]`), "$[2]")
	f.Add([]byte(`{"meta":{"x":null}}`), []byte(`{"meta":{"x":false}}`), "$.meta.*")
	f.Add([]byte(`not json`), []byte(`{}`), "$")
	f.Fuzz(func(t *testing.T, a, b []byte, rule string) {
		var rules []Path
		if p, err := ParsePath(rule); err == nil {
			rules = append(rules, p)
		}
		if _, _, _, eq := CompareBodies(a, a, rules, nil); !eq {
			t.Errorf("CompareBodies(%q, itself, %q, nil) = not equal", a, rule)
		}
		_, _, _, ab := CompareBodies(a, b, rules, nil)
		_, _, _, ba := CompareBodies(b, a, rules, nil)
		if ab != ba {
			t.Errorf("CompareBodies(%q, %q, %q, nil) = %v but reversed = %v", a, b, rule, ab, ba)
		}
	})
}

func BenchmarkCompareBodies(b *testing.B) {
	legacy := []byte(`{"users":[{"id":1,"name":"Ada","email":"ada@example.com"},{"id":2,"name":"Grace","email":"g@example.com"}],"generated_at":"2026-01-01T00:00:00Z","request_id":"abc"}`)
	iso := []byte(`{"users":[{"id":1,"name":"Ada","email":"ada@example.com"},{"id":2,"name":"Grace","email":"g@example.com"}],"generated_at":"2026-01-01T00:00:01Z","request_id":"def"}`)
	p1, _ := ParsePath("$.generated_at")
	p2, _ := ParsePath("$.request_id")
	rules := []Path{p1, p2}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, eq := CompareBodies(legacy, iso, rules, nil); !eq {
			b.Fatal("not equal")
		}
	}
}

func TestCompareHeader(t *testing.T) {
	var noise Noise
	noise.Observe(AppendHeaderNoise(nil, "X-Request-Id"))
	long := strings.Repeat("v", maxValue+1)
	tests := []struct {
		name, header, legacy, iso string
		noise                     *Noise
		wantA, wantB              string
		wantEqual                 bool
	}{
		{"equal", "ETag", "x", "x", nil, "", "", true},
		{"different", "ETag", "x", "y", nil, "x", "y", false},
		{"absent on one side", "ETag", "x", "", nil, "x", "", false},
		{"noisy header, any case", "x-request-ID", "1", "2", &noise, "", "", true},
		{"noise of another header", "ETag", "x", "y", &noise, "x", "y", false},
		{"credential redacted", "authorization", "Bearer a", "Bearer b", nil, "[redacted]", "[redacted]", false},
		{"cookie redacted, absent stays empty", "Set-Cookie", "s=1", "", nil, "[redacted]", "", false},
		{"long values truncated", "ETag", long, "y", nil, long[:maxValue] + "…", "y", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b, eq := CompareHeader(tc.header, tc.legacy, tc.iso, tc.noise)
			if a != tc.wantA || b != tc.wantB || eq != tc.wantEqual {
				t.Errorf("CompareHeader(%q, %q, %q) = %q, %q, %v; want %q, %q, %v", tc.header, tc.legacy, tc.iso,
					a, b, eq, tc.wantA, tc.wantB, tc.wantEqual)
			}
		})
	}
}
