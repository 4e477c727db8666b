package events

import (
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		expr, from, want string
	}{
		{"* * * * *", "2026-01-01T10:00:30Z", "2026-01-01T10:01:00Z"},
		{"* * * * *", "2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z"},
		{"*/15 * * * *", "2026-01-01T10:16:00Z", "2026-01-01T10:30:00Z"},
		{"5/20 * * * *", "2026-01-01T10:06:00Z", "2026-01-01T10:25:00Z"},
		{"0 9-17/4 * * *", "2026-01-01T14:00:00Z", "2026-01-01T17:00:00Z"},
		{"30 2 * * mon,FRI", "2026-01-01T00:00:00Z", "2026-01-02T02:30:00Z"}, // Jan 1 2026 is a Thursday
		{"0 0 * * 7", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"},        // 7 = Sunday
		{"0 0 13 * 5", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},       // day fields OR: Friday the 2nd
		{"0 0 29 feb *", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"0 0 30 2 *", "2026-01-01T00:00:00Z", "0001-01-01T00:00:00Z"}, // never
		{"@hourly", "2026-01-01T10:59:59Z", "2026-01-01T11:00:00Z"},
		{"@daily", "2026-01-01T10:00:00Z", "2026-01-02T00:00:00Z"},
		{"@weekly", "2026-01-01T10:00:00Z", "2026-01-04T00:00:00Z"},
		{"@monthly", "2026-01-31T10:00:00Z", "2026-02-01T00:00:00Z"},
		{"@yearly", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"@every 30s", "2026-01-01T10:00:29Z", "2026-01-01T10:00:30Z"},
		{"@every 30s", "2026-01-01T10:00:30Z", "2026-01-01T10:01:00Z"},
		{"@every 1h30m", "2026-01-01T00:00:00Z", "2026-01-01T01:30:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.expr+" after "+tc.from, func(t *testing.T) {
			s, err := ParseSchedule(tc.expr)
			if err != nil {
				t.Fatalf("ParseSchedule(%q): %v", tc.expr, err)
			}
			if got := s.Next(at(tc.from)); !got.Equal(at(tc.want)) {
				t.Errorf("Next(%s) = %s, want %s", tc.from, got, tc.want)
			}
		})
	}
}

func TestScheduleLatest(t *testing.T) {
	at := func(m, s int) time.Time { return time.Date(2026, 1, 1, 10, m, s, 0, time.UTC) }
	tests := []struct {
		expr        string
		after, upTo time.Time
		want        time.Time
	}{
		{"* * * * *", at(1, 0), at(4, 30), at(4, 0)},
		{"* * * * *", at(1, 0), at(1, 59), time.Time{}},
		{"@every 1m", at(1, 0), at(4, 30), at(4, 0)},
		{"@every 1m", at(1, 0), at(1, 30), time.Time{}},
		{"* * * * *", at(0, 0).AddDate(-3, 0, 0), at(4, 30), at(4, 0)}, // long outage: still the latest
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			s, _ := ParseSchedule(tc.expr)
			if got := s.latest(tc.after, tc.upTo); !got.Equal(tc.want) {
				t.Errorf("latest(%s, %s) = %s, want %s", tc.after, tc.upTo, got, tc.want)
			}
		})
	}
}

func TestParseScheduleErrors(t *testing.T) {
	for _, expr := range []string{
		"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
		"*/0 * * * *", "5-1 * * * *", "a * * * *", "@every", "@every 10ms", "@every -1s", "@often", "1,,2 * * * *",
	} {
		t.Run(expr, func(t *testing.T) {
			if _, err := ParseSchedule(expr); err == nil {
				t.Errorf("ParseSchedule(%q) succeeded, want error", expr)
			}
		})
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/5 1-3 * jan-mar mon", "@every 30s", "@hourly", "0 0 29 2 *", "5/20 * 1,15 * 7"} {
		f.Add(s)
	}
	from := time.Date(2026, 3, 1, 12, 34, 56, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := ParseSchedule(expr)
		if err != nil {
			return
		}
		n := s.Next(from)
		if n.IsZero() {
			return
		}
		if !n.After(from) {
			t.Fatalf("Next(%s) = %s, not after", from, n)
		}
		if s.every == 0 && (n.Second() != 0 || n.Nanosecond() != 0) {
			t.Fatalf("cron Next = %s, not on a minute", n)
		}
		if l := s.latest(from, n); !l.Equal(n) {
			t.Fatalf("latest(from, Next) = %s, want %s", l, n)
		}
	})
}
