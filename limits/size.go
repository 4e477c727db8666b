package limits

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a number of bytes, as written in router.toml ("64KiB", "16MB").
// The zero value is zero bytes, which in a Policy means "use the default".
type Size int64

// Common sizes.
const (
	Byte Size = 1
	KB   Size = 1000
	MB   Size = 1000 * KB
	GB   Size = 1000 * MB
	TB   Size = 1000 * GB
	KiB  Size = 1 << 10
	MiB  Size = 1 << 20
	GiB  Size = 1 << 30
	TiB  Size = 1 << 40
)

// sizeUnits is ordered from the largest unit down so that String picks the
// largest unit that divides a size exactly. It is a function rather than a
// package-level slice so there is no mutable package state.
func sizeUnits() [9]struct {
	name string
	size Size
} {
	return [9]struct {
		name string
		size Size
	}{
		{"TiB", TiB}, {"TB", TB}, {"GiB", GiB}, {"GB", GB},
		{"MiB", MiB}, {"MB", MB}, {"KiB", KiB}, {"KB", KB}, {"B", Byte},
	}
}

var (
	errEmpty    = errors.New("empty")
	errNumber   = errors.New("expected a non-negative whole number of bytes")
	errUnit     = errors.New("unknown unit (want B, KB, KiB, MB, MiB, GB, GiB, TB or TiB)")
	errOverflow = errors.New("too large")
)

// ParseSize parses a size such as "0", "512", "512B", "64KB", "64KiB",
// "16 MiB" or "1GiB". Decimal units are powers of 1000 (KB, MB, GB, TB) and
// binary units powers of 1024 (KiB, MiB, GiB, TiB); a bare number is bytes.
// Units are case-insensitive ("64kib" is 64KiB, "64kb" is 64KB) and may be
// preceded by a single space. Empty strings, signs, fractions, other
// whitespace, unknown units and values above math.MaxInt64 are errors.
func ParseSize(s string) (Size, error) {
	if s == "" {
		return 0, fmt.Errorf("parse size %q: %w", s, errEmpty)
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("parse size %q: %w", s, errNumber)
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil || n > math.MaxInt64 {
		return 0, fmt.Errorf("parse size %q: %w", s, errOverflow)
	}
	unit := s[i:]
	if strings.HasPrefix(unit, " ") {
		unit = unit[1:]
		if unit == "" {
			return 0, fmt.Errorf("parse size %q: %w", s, errUnit)
		}
	}
	mult := Byte
	if unit != "" {
		found := false
		for _, u := range sizeUnits() {
			if strings.EqualFold(unit, u.name) {
				mult, found = u.size, true
				break
			}
		}
		if !found {
			if strings.HasPrefix(unit, ".") || strings.HasPrefix(unit, ",") {
				return 0, fmt.Errorf("parse size %q: %w", s, errNumber)
			}
			return 0, fmt.Errorf("parse size %q: %w", s, errUnit)
		}
	}
	if n > uint64(math.MaxInt64/int64(mult)) {
		return 0, fmt.Errorf("parse size %q: %w", s, errOverflow)
	}
	return Size(n) * mult, nil
}

// String returns the canonical form of s: the number of the largest unit that
// divides s exactly, binary units first ("16MiB", "64KB", "1500B", "0B").
// ParseSize(s.String()) == s for every s >= 0. Negative sizes, which
// ParseSize never returns, print as bytes ("-1B").
func (s Size) String() string {
	if s == 0 {
		return "0B"
	}
	if s > 0 {
		for _, u := range sizeUnits() {
			if s%u.size == 0 {
				return strconv.FormatInt(int64(s/u.size), 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseSize, so TOML
// and JSON strings decode into a Size.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText implements encoding.TextMarshaler with String.
func (s Size) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}
