package limits

import (
	"errors"
	"math"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Size
		ok   bool
	}{
		{"zero", "0", 0, true},
		{"zero bytes", "0B", 0, true},
		{"bare bytes", "512", 512, true},
		{"bytes", "512B", 512, true},
		{"kilobytes", "64KB", 64000, true},
		{"kibibytes", "64KiB", 64 * 1024, true},
		{"megabytes", "16MB", 16_000_000, true},
		{"mebibytes", "16MiB", 16 << 20, true},
		{"gigabytes", "1GB", 1_000_000_000, true},
		{"gibibytes", "1GiB", 1 << 30, true},
		{"tebibytes", "2TiB", 2 << 40, true},
		{"terabytes", "3TB", 3_000_000_000_000, true},
		{"space before unit", "16 MiB", 16 << 20, true},
		{"lower case binary", "64kib", 64 * 1024, true},
		{"lower case decimal", "64kb", 64000, true},
		{"upper case", "1GIB", 1 << 30, true},
		{"lower b", "7b", 7, true},
		{"leading zeros", "007KiB", 7 * 1024, true},
		{"max int64", "9223372036854775807", math.MaxInt64, true},
		{"max TiB", "8388607TiB", 8388607 << 40, true},

		{"empty", "", 0, false},
		{"space only", " ", 0, false},
		{"negative", "-1", 0, false},
		{"negative unit", "-1KiB", 0, false},
		{"plus sign", "+1", 0, false},
		{"fraction", "1.5MiB", 0, false},
		{"comma", "1,5MB", 0, false},
		{"two spaces", "16  MiB", 0, false},
		{"trailing space", "16MiB ", 0, false},
		{"space no unit", "16 ", 0, false},
		{"leading space", " 16MiB", 0, false},
		{"unit only", "MiB", 0, false},
		{"unknown unit", "16XB", 0, false},
		{"si k", "16K", 0, false},
		{"bits", "16Mb", 16_000_000, true}, // case-insensitive by contract: Mb is MB
		{"overflow number", "9223372036854775808", 0, false},
		{"overflow huge", "99999999999999999999999", 0, false},
		{"overflow unit", "8388608TiB", 0, false},
		{"overflow GB", "9300000000GB", 0, false},
		{"hex", "0x10", 0, false},
		{"underscore", "1_000", 0, false},
		{"unicode digit", "١٢", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("ParseSize(%q) = %v, %v, want %v, ok=%v", tc.in, int64(got), err, int64(tc.want), tc.ok)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		name string
		in   Size
		want string
	}{
		{"zero", 0, "0B"},
		{"bytes", 1500, "1500B"},
		{"one", 1, "1B"},
		{"kib", 64 * KiB, "64KiB"},
		{"kb", 64 * KB, "64KB"},
		{"mib", 16 * MiB, "16MiB"},
		{"mb", 16 * MB, "16MB"},
		{"gib", GiB, "1GiB"},
		{"gb", GB, "1GB"},
		{"tib", 3 * TiB, "3TiB"},
		{"tb", 5 * TB, "5TB"},
		{"binary preferred", 1024000, "1000KiB"},
		{"one and a half KiB", 1536, "1536B"},
		{"negative", -1, "-1B"},
		{"max", math.MaxInt64, "9223372036854775807B"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("Size(%d).String() = %q, want %q", int64(tc.in), got, tc.want)
			}
		})
	}
}

func TestSizeText(t *testing.T) {
	var s Size
	if err := s.UnmarshalText([]byte("16 mib")); err != nil || s != 16*MiB {
		t.Fatalf("UnmarshalText(%q) = %v, %v, want %v", "16 mib", s, err, 16*MiB)
	}
	b, err := s.MarshalText()
	if err != nil || string(b) != "16MiB" {
		t.Fatalf("MarshalText() = %q, %v, want %q", b, err, "16MiB")
	}
	before := s
	if err := s.UnmarshalText([]byte("-3")); err == nil || s != before {
		t.Fatalf("UnmarshalText(%q) = %v, left %v, want error and unchanged %v", "-3", err, s, before)
	}
}

func TestParseSizeErrorQuotesInput(t *testing.T) {
	_, err := ParseSize("12QB")
	if err == nil || !errors.Is(err, errUnit) || err.Error() != `parse size "12QB": `+errUnit.Error() {
		t.Errorf("ParseSize(%q) error = %v, want it to quote the input and wrap errUnit", "12QB", err)
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "512", "512B", "64KB", "64KiB", "16 MiB", "1GiB", "1.5MB", "-1", "", "9223372036854775807", "8388608TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseSize(%q) = %d, want >= 0", s, int64(v))
		}
		back, err := ParseSize(v.String())
		if err != nil || back != v {
			t.Fatalf("ParseSize(%q) = %v, %v, want %d (round trip of %q)", v.String(), int64(back), err, int64(v), s)
		}
	})
}

func BenchmarkParseSize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseSize("16 MiB"); err != nil {
			b.Fatal(err)
		}
	}
}
