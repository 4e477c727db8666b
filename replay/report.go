package replay

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteText writes s for a person: a table per route, then one block per
// mismatch with its first difference, then the corrupt lines.
func (s *Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tRECORDS\tMATCH\tMISMATCH\tMISMATCH RATE")
	for _, r := range s.Routes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", r.Route, r.Records, r.Matched, r.Mismatched, percent(r.Mismatched, r.Records))
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%s\n", s.Records, s.Matched, s.Mismatched, percent(s.Mismatched, s.Records))
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, m := range s.Mismatches {
		fmt.Fprintf(w, "\nmismatch %d: %s %s (route %s, line %d", i+1, m.Method, m.URL, m.Route, m.Line)
		if m.TraceID != "" {
			fmt.Fprintf(w, ", trace %s", m.TraceID)
		}
		fmt.Fprintf(w, ")\n  %s\n  - legacy:   %s\n  + replayed: %s\n", m.Field, orNone(m.Legacy), orNone(m.Got))
		if m.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", m.Error)
		}
		if m.Unrecorded > 0 {
			fmt.Fprintf(w, "  %d fetch(es) not in the recording\n", m.Unrecorded)
		}
	}
	if shown := len(s.Mismatches); shown < s.Mismatched {
		fmt.Fprintf(w, "\n(%d more mismatches not shown)\n", s.Mismatched-shown)
	}
	for _, c := range s.Corrupt {
		fmt.Fprintf(w, "\ncorrupt line %d skipped: %s", c.Line, c.Error)
	}
	if len(s.Corrupt) > 0 {
		fmt.Fprintln(w)
	}
	return nil
}

func percent(n, total int) string {
	if total == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(total))
}

func orNone(s string) string {
	if s == "" {
		return `""`
	}
	return s
}
