package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/edged/edged/corpus"
	"github.com/edged/edged/shadow"
)

// Rules are a route's shadow comparison rules ([routes.shadow]).
type Rules struct {
	// CompareHeaders are the response headers compared besides status and
	// body (any case).
	CompareHeaders []string
	// Ignore are JSON paths left out of the body comparison.
	Ignore []string
	// Noise are learnt noise entries ("$.items[*].id", "header:date",
	// "body") left out as well, besides those each record carries.
	Noise []string
}

// Answer is a target's answer to a recorded request.
type Answer struct {
	Status int
	Header []corpus.NameValue
	Body   []byte
	// Err is the failure the status stands for (a trap, a deadline), if any.
	Err error
	// Unrecorded counts fetches the recording could not answer.
	Unrecorded int
}

// Target answers recorded requests. Module and HTTP are the two there are.
type Target interface {
	Answer(ctx context.Context, rec *corpus.Record) (Answer, error)
}

// Outcomes of a Result.
const (
	Match    = "match"
	Mismatch = "mismatch"
)

// Result is the comparison of one record.
type Result struct {
	// Line is the record's line in the corpus (from 1).
	Line    int    `json:"line"`
	Route   string `json:"route"`
	Method  string `json:"method"`
	URL     string `json:"url"`
	TraceID string `json:"trace_id,omitempty"`
	Outcome string `json:"outcome"`
	// Field is the first difference: "status", "header:NAME" or
	// "body:PATH" ("body:" for bodies compared as bytes); Legacy and Got
	// the two values, truncated.
	Field  string `json:"field,omitempty"`
	Legacy string `json:"legacy,omitempty"`
	Got    string `json:"got,omitempty"`
	// Error is the failure behind the answer (a trap, a deadline).
	Error string `json:"error,omitempty"`
	// Unrecorded counts fetches the recording could not answer.
	Unrecorded int `json:"unrecorded_fetches,omitempty"`
}

// RouteSummary counts one route's results.
type RouteSummary struct {
	Route      string `json:"route"`
	Records    int    `json:"records"`
	Matched    int    `json:"matched"`
	Mismatched int    `json:"mismatched"`
}

// CorruptLine is a line of the corpus that was not a valid record.
type CorruptLine struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// Summary is a replay's outcome.
type Summary struct {
	Records    int            `json:"records"`
	Matched    int            `json:"matched"`
	Mismatched int            `json:"mismatched"`
	Routes     []RouteSummary `json:"routes"`
	// MismatchRate is Mismatched / Records, 0 without records.
	MismatchRate float64       `json:"mismatch_rate"`
	Mismatches   []Result      `json:"mismatches"`
	Corrupt      []CorruptLine `json:"corrupt_lines"`
}

// Options configure Run.
type Options struct {
	// Rules are the route's comparison rules.
	Rules Rules
	// Route, when set, replays only the records of that route.
	Route string
	// MaxMismatches bounds the mismatches kept in Summary.Mismatches (all are
	// counted). Default 1000.
	MaxMismatches int
}

// Run replays every record r reads against t and compares the answers. A
// corrupt line is reported in Summary.Corrupt and skipped. It stops at the
// first error of r's underlying reader or of t, or when ctx ends.
func Run(ctx context.Context, r *corpus.Reader, t Target, o Options) (Summary, error) {
	if o.MaxMismatches <= 0 {
		o.MaxMismatches = 1000
	}
	ignore, err := parsePaths(o.Rules.Ignore)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{Mismatches: []Result{}, Corrupt: []CorruptLine{}}
	byRoute := map[string]*RouteSummary{}
	for {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		rec, err := r.Next()
		var le *corpus.LineError
		switch {
		case errors.Is(err, io.EOF):
			s.finish(byRoute)
			return s, nil
		case errors.As(err, &le):
			s.Corrupt = append(s.Corrupt, CorruptLine{Line: le.Line, Error: le.Err.Error()})
			continue
		case err != nil:
			return s, err
		}
		line := r.Line()
		if o.Route != "" && rec.Route != o.Route {
			continue
		}
		ans, err := t.Answer(ctx, rec)
		if err != nil {
			return s, fmt.Errorf("line %d: %w", line, err)
		}
		res := Compare(rec, ans, o.Rules, ignore)
		res.Line = line
		rs := byRoute[rec.Route]
		if rs == nil {
			rs = &RouteSummary{Route: rec.Route}
			byRoute[rec.Route] = rs
		}
		rs.Records++
		s.Records++
		if res.Outcome == Match {
			rs.Matched++
			s.Matched++
			continue
		}
		rs.Mismatched++
		s.Mismatched++
		if len(s.Mismatches) < o.MaxMismatches {
			s.Mismatches = append(s.Mismatches, res)
		}
	}
}

func (s *Summary) finish(byRoute map[string]*RouteSummary) {
	s.Routes = []RouteSummary{}
	for _, name := range slices.Sorted(maps.Keys(byRoute)) {
		s.Routes = append(s.Routes, *byRoute[name])
	}
	if s.Records > 0 {
		s.MismatchRate = float64(s.Mismatched) / float64(s.Records)
	}
}

func parsePaths(ss []string) ([]shadow.Path, error) {
	var out []shadow.Path
	var errs []error
	for _, s := range ss {
		p, err := shadow.ParsePath(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// Compare compares ans with rec's legacy answer as the shadow stage compares
// the function's answer with legacy's: the status, then rules.CompareHeaders,
// then the body (JSON structurally, leaving out ignore, the record's redacted
// paths and the noise; bytes otherwise; not for HEAD or a truncated
// recording). Headers and paths the recording redacted are not compared.
func Compare(rec *corpus.Record, ans Answer, rules Rules, ignore []shadow.Path) Result {
	res := Result{Route: rec.Route, Method: rec.Entry.Request.Method, URL: rec.Entry.Request.URL, TraceID: rec.TraceID,
		Outcome: Match, Unrecorded: ans.Unrecorded}
	if ans.Err != nil {
		res.Error = ans.Err.Error()
	}
	field, lv, gv, same := compare(rec, ans, rules, ignore)
	if !same {
		res.Outcome, res.Field, res.Legacy, res.Got = Mismatch, field, lv, gv
	}
	return res
}

func compare(rec *corpus.Record, ans Answer, rules Rules, ignore []shadow.Path) (field, lv, gv string, same bool) {
	legacy := &rec.Entry.Response
	if legacy.Status != ans.Status {
		return "status", strconv.Itoa(legacy.Status), strconv.Itoa(ans.Status), false
	}
	var noise shadow.Noise
	noise.Observe(append(append([]string{}, rules.Noise...), rec.Noise...))
	redactedHeaders := map[string]bool{}
	for _, r := range rec.Redacted {
		if h, ok := strings.CutPrefix(r, "header:"); ok {
			redactedHeaders[strings.ToLower(h)] = true
		} else if p, err := shadow.ParsePath(r); err == nil {
			ignore = append(slices.Clip(ignore), p)
		}
	}
	for _, name := range rules.CompareHeaders {
		lval, _ := corpus.Header(legacy.Headers, name)
		if redactedHeaders[strings.ToLower(name)] || lval == corpus.Redacted {
			continue
		}
		gval, _ := corpus.Header(ans.Header, name)
		if a, b, eq := shadow.CompareHeader(name, lval, gval, &noise); !eq {
			return "header:" + name, a, b, false
		}
	}
	if strings.EqualFold(rec.Entry.Request.Method, "HEAD") || legacy.Truncated {
		return "", "", "", true
	}
	lb, err := legacy.Body()
	if err != nil {
		return "body:", "(unreadable: " + err.Error() + ")", "", false
	}
	p, a, b, eq := shadow.CompareBodies(lb, ans.Body, ignore, &noise)
	if eq {
		return "", "", "", true
	}
	return "body:" + p, a, b, false
}

// requestTarget returns the path and query of rec's request, and its host.
func requestTarget(rec *corpus.Record) (uri, host string, err error) {
	u, err := url.Parse(rec.Entry.Request.URL)
	if err != nil {
		return "", "", err
	}
	return u.RequestURI(), u.Host, nil
}
