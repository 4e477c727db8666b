package limits

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
		ok   bool
	}{
		{"zero", "0", 0, true},
		{"zero seconds", "0s", 0, true},
		{"millis", "250ms", 250 * time.Millisecond, true},
		{"seconds", "5s", 5 * time.Second, true},
		{"fraction", "1.5s", 1500 * time.Millisecond, true},
		{"compound", "1m30s", 90 * time.Second, true},
		{"micro", "15µs", 15 * time.Microsecond, true},
		{"plus", "+2s", 2 * time.Second, true},
		{"negative", "-1s", 0, false},
		{"negative zero", "-0", 0, true},
		{"empty", "", 0, false},
		{"no unit", "5", 0, false},
		{"bad unit", "5y", 0, false},
		{"space", "5 s", 0, false},
		{"overflow", "9999999999h", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("ParseDuration(%q) = %v, %v, want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || d.Std() != 90*time.Second {
		t.Fatalf("UnmarshalText(%q) = %v, %v, want %v", "1m30s", d, err, 90*time.Second)
	}
	b, err := d.MarshalText()
	if err != nil || string(b) != "1m30s" {
		t.Fatalf("MarshalText() = %q, %v, want %q", b, err, "1m30s")
	}
	if err := d.UnmarshalText([]byte("-5s")); err == nil || d.Std() != 90*time.Second {
		t.Fatalf("UnmarshalText(%q) = %v, left %v, want error and unchanged", "-5s", err, d)
	}
	if got := Duration(1500 * time.Millisecond).String(); got != "1.5s" {
		t.Errorf("Duration.String() = %q, want %q", got, "1.5s")
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "1s", "250ms", "1m30s", "-1s", "", "1.5h", "9999999999h", "15µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, want >= 0", s, d)
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, %v, want %v (round trip of %q)", d.String(), back, err, d, s)
		}
	})
}
