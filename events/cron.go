package events

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed `schedule` expression: five cron fields or a
// descriptor. Times are evaluated in UTC. A Schedule is immutable and safe
// for concurrent use.
type Schedule struct {
	// every is set for `@every D`: ticks are the multiples of every since the
	// Unix epoch, so every node and every restart agrees on them.
	every time.Duration
	// Bit sets of allowed values for cron expressions.
	minute, hour, dom, month, dow uint64
	// domStar and dowStar record an unrestricted field: cron fires on a day
	// when either day field matches only if both are restricted.
	domStar, dowStar bool
	expr             string
}

// minEvery bounds `@every`: finer ticks would turn the tick log into the
// busiest stream of the node.
const minEvery = time.Second

var descriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

var monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseSchedule parses a cron expression of five fields (minute hour
// day-of-month month day-of-week; `*`, lists, ranges, steps, month and day
// names, 7 = Sunday), a descriptor (@yearly, @annually, @monthly, @weekly,
// @daily, @midnight, @hourly) or `@every D` with D a Go duration of at least
// one second. Expressions longer than 256 bytes are rejected.
func ParseSchedule(expr string) (Schedule, error) {
	if len(expr) > 256 {
		return Schedule{}, errors.New("schedule longer than 256 bytes")
	}
	s := strings.TrimSpace(expr)
	if rest, ok := strings.CutPrefix(s, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return Schedule{}, fmt.Errorf("schedule %q: %w", expr, err)
		}
		if d < minEvery {
			return Schedule{}, fmt.Errorf("schedule %q: @every must be at least %s", expr, minEvery)
		}
		return Schedule{every: d, expr: s}, nil
	}
	if strings.HasPrefix(s, "@") {
		d, ok := descriptors[s]
		if !ok {
			return Schedule{}, fmt.Errorf("schedule %q: unknown descriptor", expr)
		}
		sch, err := ParseSchedule(d)
		sch.expr = s
		return sch, err
	}
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return Schedule{}, fmt.Errorf("schedule %q: want 5 fields (minute hour day month weekday), got %d", expr, len(fields))
	}
	sch := Schedule{expr: s}
	var err error
	specs := []struct {
		dst      *uint64
		name     string
		min, max int
		names    []string
	}{
		{&sch.minute, "minute", 0, 59, nil},
		{&sch.hour, "hour", 0, 23, nil},
		{&sch.dom, "day of month", 1, 31, nil},
		{&sch.month, "month", 1, 12, monthNames},
		{&sch.dow, "day of week", 0, 7, dayNames},
	}
	for i, sp := range specs {
		if *sp.dst, err = parseField(fields[i], sp.min, sp.max, sp.names); err != nil {
			return Schedule{}, fmt.Errorf("schedule %q: %s: %w", expr, sp.name, err)
		}
	}
	if sch.dow&(1<<7) != 0 { // 7 is Sunday too
		sch.dow |= 1
		sch.dow &^= 1 << 7
	}
	sch.domStar = fields[2] == "*" || fields[2] == "?"
	sch.dowStar = fields[4] == "*" || fields[4] == "?"
	return sch, nil
}

func parseField(f string, lo, hi int, names []string) (uint64, error) {
	var bits uint64
	for part := range strings.SplitSeq(f, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 || n > hi {
				return 0, fmt.Errorf("bad step %q", stepStr)
			}
			step = n
		}
		var from, to int
		switch {
		case rng == "*" || rng == "?":
			from, to = lo, hi
		default:
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if from, err = fieldValue(a, lo, hi, names); err != nil {
				return 0, err
			}
			to = from
			if isRange {
				if to, err = fieldValue(b, lo, hi, names); err != nil {
					return 0, err
				}
				if to < from {
					return 0, fmt.Errorf("range %q runs backwards", rng)
				}
			} else if hasStep {
				to = hi // "5/15" means 5, 20, 35, 50
			}
		}
		for v := from; v <= to; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

func fieldValue(s string, lo, hi int, names []string) (int, error) {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return i + lo, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("value %q out of range %d-%d", s, lo, hi)
	}
	return v, nil
}

// String returns the expression as written (trimmed).
func (s Schedule) String() string { return s.expr }

// Next returns the first tick strictly after t, in UTC, or the zero time if
// there is none within five years (e.g. "0 0 30 2 *").
func (s Schedule) Next(t time.Time) time.Time {
	t = t.UTC()
	if s.every > 0 {
		d := int64(s.every)
		n := t.UnixNano()
		next := (n/d + 1) * d
		if n < 0 && n%d != 0 {
			next = (n / d) * d
		}
		return time.Unix(0, next).UTC()
	}
	t = t.Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	// Each step jumps to the start of the next candidate month, day, hour or
	// minute, so the loop runs a few hundred times at most per year searched.
	for t.Before(limit) {
		if s.month&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !s.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if s.hour&(1<<uint(t.Hour())) == 0 {
			t = t.Truncate(time.Hour).Add(time.Hour)
			continue
		}
		if s.minute&(1<<uint(t.Minute())) == 0 {
			t = t.Add(time.Minute)
			continue
		}
		return t
	}
	return time.Time{}
}

func (s Schedule) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}

// latest returns the last tick in (after, upTo], or the zero time if none.
// The search is bounded: at most maxCatchUp ticks are stepped through.
func (s Schedule) latest(after, upTo time.Time) time.Time {
	if s.every > 0 {
		d := int64(s.every)
		n := upTo.UnixNano()
		last := time.Unix(0, n-((n%d)+d)%d).UTC()
		if last.After(after) {
			return last
		}
		return time.Time{}
	}
	var found time.Time
	t := after
	if floor := upTo.AddDate(-1, 0, 0); t.Before(floor) {
		t = floor // a tick missed more than a year ago is not caught up
	}
	for range maxCatchUp {
		n := s.Next(t)
		if n.IsZero() || n.After(upTo) {
			break
		}
		found, t = n, n
	}
	return found
}

// maxCatchUp bounds the walk over missed cron ticks: more than the minutes
// in a year, the longest span latest searches.
const maxCatchUp = 530_000
