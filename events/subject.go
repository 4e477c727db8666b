package events

import (
	"errors"
	"fmt"
	"strings"
)

// maxSubjectLen bounds a subject or pattern; NATS itself allows more, but
// subjects come from config and guests, and nothing legitimate is this long.
const maxSubjectLen = 256

// ValidSubject reports whether s is a NATS subject a message may be published
// to: dot-separated non-empty tokens of printable ASCII without spaces, no
// wildcards, not starting with '$' (NATS's own API and buckets), at most 256
// bytes.
func ValidSubject(s string) error { return checkSubject(s, false) }

// ValidPattern reports whether p is a NATS subject pattern: like ValidSubject,
// but a token may be the wildcard `*` (exactly one token) and the last token
// may be `>` (one or more tokens).
func ValidPattern(p string) error { return checkSubject(p, true) }

func checkSubject(s string, wildcards bool) error {
	if s == "" {
		return errors.New("empty subject")
	}
	if len(s) > maxSubjectLen {
		return fmt.Errorf("subject longer than %d bytes", maxSubjectLen)
	}
	if s[0] == '$' {
		// $JS.API, $KV and $SYS are NATS's own: a publish there is an API
		// call or a write into edged's buckets.
		return fmt.Errorf("subject %q: subjects starting with '$' are reserved", s)
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			if c <= ' ' || c >= 0x7f {
				return fmt.Errorf("subject %q: byte 0x%02x not allowed", s, c)
			}
			continue
		}
		tok := s[start:i]
		switch {
		case tok == "":
			return fmt.Errorf("subject %q: empty token", s)
		case tok == "*" || tok == ">":
			if !wildcards {
				return fmt.Errorf("subject %q: wildcard %q not allowed", s, tok)
			}
			if tok == ">" && i != len(s) {
				return fmt.Errorf("subject %q: '>' must be the last token", s)
			}
		case strings.ContainsAny(tok, "*>"):
			return fmt.Errorf("subject %q: wildcard inside token %q", s, tok)
		}
		start = i + 1
	}
	return nil
}

// SubjectMatches reports whether subject (no wildcards) is matched by the
// NATS pattern: `*` matches exactly one token, a final `>` one or more.
func SubjectMatches(pattern, subject string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		st, srest, smore := strings.Cut(subject, ".")
		switch {
		case pt == ">":
			return st != ""
		case pt != "*" && pt != st:
			return false
		case !pmore || !smore:
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}

// AllowList is a set of NATS subject patterns a function may publish to (its
// `publish = [...]`). The zero value allows nothing. It is immutable and safe
// for concurrent use.
type AllowList struct {
	patterns []string
}

// NewAllowList validates patterns and returns the list; an invalid pattern is
// an error naming its index.
func NewAllowList(patterns []string) (AllowList, error) {
	var errs []error
	for i, p := range patterns {
		if err := ValidPattern(p); err != nil {
			errs = append(errs, fmt.Errorf("publish[%d]: %w", i, err))
		}
	}
	if len(errs) > 0 {
		return AllowList{}, errors.Join(errs...)
	}
	return AllowList{patterns: append([]string(nil), patterns...)}, nil
}

// Allows reports whether subject is a valid subject matched by one of the
// patterns. Invalid subjects (wildcards, empty tokens) are never allowed.
func (a AllowList) Allows(subject string) bool {
	if ValidSubject(subject) != nil {
		return false
	}
	for _, p := range a.patterns {
		if SubjectMatches(p, subject) {
			return true
		}
	}
	return false
}
