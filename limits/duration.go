package limits

import (
	"errors"
	"fmt"
	"time"
)

// Duration wraps time.Duration so that configuration strings such as "250ms"
// or "5s" decode into it (encoding.TextUnmarshaler). The zero value is zero,
// which in a Policy means "use the default". Convert with Std.
type Duration time.Duration

var errNegative = errors.New("must not be negative")

// ParseDuration parses s like time.ParseDuration ("1.5s", "300ms", "1m30s")
// but refuses negative durations. "0" is valid and means zero.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		// time.ParseDuration already quotes s in its message.
		return 0, fmt.Errorf("parse duration: %w", err)
	}
	if d < 0 {
		return 0, fmt.Errorf("parse duration %q: %w", s, errNegative)
	}
	return d, nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String returns d in time.Duration's format ("1.5s").
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalText implements encoding.TextUnmarshaler with ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler; the result parses back to d.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).String()), nil
}
