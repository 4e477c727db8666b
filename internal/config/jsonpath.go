package config

import (
	"errors"
	"fmt"
)

// checkJSONPath checks the syntax of a shadow ignore rule: "$" followed by
// steps, each ".name" (letters, digits, '_' and '-'), ".*" (any member),
// "[N]" (an array index) or "[*]" (every element). Examples: "$",
// "$.timestamp", "$.items[*].id", "$.meta.*". The router owns matching; this
// only keeps a typo from silently ignoring nothing.
func checkJSONPath(s string) error {
	if err := parseJSONPath(s); err != nil {
		return fmt.Errorf("JSON path %q: %w", s, err)
	}
	return nil
}

func parseJSONPath(s string) error {
	if s == "" || s[0] != '$' {
		return errors.New(`must start with "$"`)
	}
	i := 1
	for i < len(s) {
		switch s[i] {
		case '.':
			i++
			if i < len(s) && s[i] == '*' {
				i++
				continue
			}
			start := i
			for i < len(s) && isNameByte(s[i]) {
				i++
			}
			if i == start {
				return fmt.Errorf("empty member name at offset %d", start)
			}
		case '[':
			i++
			if i < len(s) && s[i] == '*' {
				i++
			} else {
				start := i
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					i++
				}
				if i == start || i-start > 9 {
					return fmt.Errorf(`want an index or "*" at offset %d`, start)
				}
			}
			if i >= len(s) || s[i] != ']' {
				return fmt.Errorf(`want "]" at offset %d`, i)
			}
			i++
		default:
			return fmt.Errorf(`want "." or "[" at offset %d`, i)
		}
	}
	return nil
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}
