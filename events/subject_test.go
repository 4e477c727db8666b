package events

import (
	"strings"
	"testing"
	"time"
)

func TestSubjectMatches(t *testing.T) {
	tests := []struct {
		pattern, subject string
		want             bool
	}{
		{"orders", "orders", true},
		{"orders", "orders.new", false},
		{"orders.*", "orders.new", true},
		{"orders.*", "orders", false},
		{"orders.*", "orders.new.eu", false},
		{"orders.>", "orders.new.eu", true},
		{"orders.>", "orders", false},
		{"*.new", "orders.new", true},
		{">", "a.b.c", true},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.d", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.subject, func(t *testing.T) {
			if got := SubjectMatches(tc.pattern, tc.subject); got != tc.want {
				t.Errorf("SubjectMatches(%q, %q) = %v, want %v", tc.pattern, tc.subject, got, tc.want)
			}
		})
	}
}

func TestAllowList(t *testing.T) {
	a, err := NewAllowList([]string{"orders.*", "audit.>"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		subject string
		want    bool
	}{
		{"orders.new", true},
		{"audit.x.y", true},
		{"orders.new.eu", false},
		{"billing", false},
		{"orders.*", false}, // publishing to a wildcard is never allowed
		{"orders..x", false},
		{"$JS.API.STREAM.DELETE.X", false},
		{"$KV.edged_events.x", false},
		{"orders.new\r\n", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.subject, func(t *testing.T) {
			if got := a.Allows(tc.subject); got != tc.want {
				t.Errorf("Allows(%q) = %v, want %v", tc.subject, got, tc.want)
			}
		})
	}
	if (AllowList{}).Allows("orders.new") {
		t.Error("zero AllowList allows a subject")
	}
	for _, bad := range []string{"", "a..b", "a.>.b", "a.b*", "a b", strings.Repeat("a", 300)} {
		if _, err := NewAllowList([]string{"ok", bad}); err == nil || !strings.Contains(err.Error(), "publish[1]") {
			t.Errorf("NewAllowList(%q) = %v, want an error naming publish[1]", bad, err)
		}
	}
}

func FuzzSubjectMatches(f *testing.F) {
	for _, s := range [][2]string{{"a.*", "a.b"}, {"a.>", "a.b.c"}, {">", "x"}, {"a.b", "a.b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, subject string) {
		if ValidPattern(pattern) != nil || ValidSubject(subject) != nil {
			return
		}
		got := SubjectMatches(pattern, subject)
		// Reference: token by token.
		p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
		want := len(p) == len(s)
		if p[len(p)-1] == ">" {
			want = len(s) >= len(p)
		}
		for i := 0; want && i < len(p) && i < len(s); i++ {
			if p[i] == ">" {
				break
			}
			want = p[i] == "*" || p[i] == s[i]
		}
		if got != want {
			t.Fatalf("SubjectMatches(%q, %q) = %v, want %v", pattern, subject, got, want)
		}
		if ValidPattern(subject) != nil {
			t.Fatalf("valid subject %q is not a valid pattern", subject)
		}
	})
}

func TestTriggerValidate(t *testing.T) {
	tests := []struct {
		name string
		t    Trigger
		want string // substring of the error; "" = valid
	}{
		{"queue", Trigger{Name: "a", Subject: "orders"}, ""},
		{"schedule", Trigger{Name: "a", Schedule: "@every 1m"}, ""},
		{"wildcard with dead letter", Trigger{Name: "a", Subject: "orders.*", DeadLetter: "dead.orders"}, ""},
		{"both", Trigger{Name: "a", Subject: "x", Schedule: "@hourly"}, "exactly one"},
		{"neither", Trigger{Name: "a"}, "one of subject"},
		{"bad name", Trigger{Name: "a.b", Subject: "x"}, "name"},
		{"bad schedule", Trigger{Name: "a", Schedule: "sometimes"}, "schedule"},
		{"wildcard without dead letter", Trigger{Name: "a", Subject: "orders.>"}, "dead_letter: required"},
		{"dead letter loops", Trigger{Name: "a", Subject: "orders.>", DeadLetter: "orders.dead"}, "matched by subject"},
		{"ordering", Trigger{Name: "a", Subject: "x", Ordering: "fifo"}, "ordering"},
		{"backoff", Trigger{Name: "a", Subject: "x", Backoff: time.Minute, MaxBackoff: time.Second}, "max_backoff"},
		{"concurrency", Trigger{Name: "a", Subject: "x", MaxConcurrency: -1}, "max_concurrency"},
		{"dedup window", Trigger{Name: "a", Subject: "x", Dedup: DedupWindow}, ""},
		{"dedup record", Trigger{Name: "a", Schedule: "@hourly", Dedup: DedupRecord}, ""},
		{"dedup unknown", Trigger{Name: "a", Subject: "x", Dedup: "none"}, "dedup"},
		{"dedup window on a schedule", Trigger{Name: "a", Schedule: "@hourly", Dedup: DedupWindow}, "queue triggers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.t.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTriggerDefaults(t *testing.T) {
	d := Trigger{Name: "a", Subject: "orders"}.withDefaults()
	if d.MaxRetries != 3 || d.Backoff != time.Second || d.MaxBackoff != 5*time.Minute || d.MaxConcurrency != 4 ||
		d.Ordering != OrderingNone || d.DeadLetter != "orders.dead" || d.AckTimeout != DefaultAckTimeout ||
		d.Dedup != DedupRecord {
		t.Errorf("defaults = %+v", d)
	}
	if s := (Trigger{Name: "tick", Schedule: "@hourly"}).withDefaults(); s.Subject != "edged.schedule.tick" || s.DeadLetter != "edged.schedule.tick.dead" {
		t.Errorf("schedule defaults = %+v", s)
	}
	if n := (Trigger{Name: "a", Subject: "x", MaxRetries: -1}).withDefaults().MaxRetries; n != 0 {
		t.Errorf("MaxRetries -1 = %d, want 0 retries", n)
	}
}

func TestDelay(t *testing.T) {
	tr := Trigger{Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for _, tc := range []struct {
		n        int
		min, max time.Duration
	}{{1, 50 * time.Millisecond, 100 * time.Millisecond}, {2, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond}, {5, 500 * time.Millisecond, time.Second}, {60, 500 * time.Millisecond, time.Second}} {
		for range 50 {
			if d := tr.delay(tc.n); d < tc.min || d > tc.max {
				t.Fatalf("delay(%d) = %s, want in [%s, %s]", tc.n, d, tc.min, tc.max)
			}
		}
	}
}
