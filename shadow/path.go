package shadow

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrBadPath is matched (errors.Is) by the error ParsePath and ValidatePath give
// for an ignore path that does not parse.
var ErrBadPath = errors.New("bad JSON path")

// step is one step of a JSON path: a member name, any member (".*"), an array index,
// or any index ("[*]"). Concrete positions use member and index steps only.
type step struct {
	kind  uint8
	name  string
	index int
}

const (
	stepMember = iota
	stepAnyMember
	stepIndex
	stepAnyIndex
)

// ValidatePath checks an ignore path with the parser that compiles it, so
// configuration checks and the comparison cannot disagree on the grammar. Its
// error wraps ErrBadPath.
func ValidatePath(s string) error {
	_, err := ParsePath(s)
	return err
}

// Path is a parsed ignore rule such as "$.items[*].id": the positions it covers
// are left out of CompareBodies and AppendBodyNoise.
type Path []step

// ParsePath parses "$" followed by steps: ".name" (letters, digits, '_', '-'),
// ".*" (any member), "[N]" (an array index) or "[*]" (every element). Its error
// wraps ErrBadPath and names the offset of the first bad byte.
func ParsePath(s string) (Path, error) {
	bad := func(msg string, at int) (Path, error) {
		return nil, fmt.Errorf("parse %q: %w: %s at offset %d", s, ErrBadPath, msg, at)
	}
	if s == "" || s[0] != '$' {
		return bad(`want "$"`, 0)
	}
	p := Path{}
	i := 1
	for i < len(s) {
		switch s[i] {
		case '.':
			i++
			if i < len(s) && s[i] == '*' {
				p = append(p, step{kind: stepAnyMember})
				i++
				continue
			}
			start := i
			for i < len(s) && isPathNameByte(s[i]) {
				i++
			}
			if i == start {
				return bad("empty member name", start)
			}
			p = append(p, step{kind: stepMember, name: s[start:i]})
		case '[':
			i++
			if i < len(s) && s[i] == '*' {
				p = append(p, step{kind: stepAnyIndex})
				i++
			} else {
				start := i
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					i++
				}
				if i == start || i-start > 9 {
					return bad(`want an index or "*"`, start)
				}
				n, _ := strconv.Atoi(s[start:i])
				p = append(p, step{kind: stepIndex, index: n})
			}
			if i >= len(s) || s[i] != ']' {
				return bad(`want "]"`, i)
			}
			i++
		default:
			return bad(`want "." or "["`, i)
		}
	}
	return p, nil
}

func isPathNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// matches reports whether rule p covers the concrete position at.
func (p Path) matches(at []step) bool {
	if len(p) != len(at) {
		return false
	}
	for i, s := range p {
		a := at[i]
		switch s.kind {
		case stepMember:
			if a.kind != stepMember || a.name != s.name {
				return false
			}
		case stepAnyMember:
			if a.kind != stepMember {
				return false
			}
		case stepIndex:
			if a.kind != stepIndex || a.index != s.index {
				return false
			}
		case stepAnyIndex:
			if a.kind != stepIndex {
				return false
			}
		}
	}
	return true
}

// formatPath renders a concrete position as "$.users[2].name"; member names that are
// not plain words are quoted: $["a b"].
func formatPath(at []step) string { return string(appendPath(make([]byte, 0, 32), at, false)) }

// appendNoiseKey appends at as formatPath renders it but with every index as "[*]":
// the key of the position in a noise set (normalizePath of formatPath).
func appendNoiseKey(dst []byte, at []step) []byte { return appendPath(dst, at, true) }

func appendPath(dst []byte, at []step, anyIndex bool) []byte {
	dst = append(dst, '$')
	for _, s := range at {
		if s.kind == stepIndex {
			if anyIndex {
				dst = append(dst, "[*]"...)
				continue
			}
			dst = append(dst, '[')
			dst = strconv.AppendInt(dst, int64(s.index), 10)
			dst = append(dst, ']')
			continue
		}
		plain := s.name != ""
		for i := 0; i < len(s.name); i++ {
			if !isPathNameByte(s.name[i]) {
				plain = false
				break
			}
		}
		if plain {
			dst = append(dst, '.')
			dst = append(dst, s.name...)
		} else {
			dst = append(dst, '[')
			dst = strconv.AppendQuote(dst, s.name)
			dst = append(dst, ']')
		}
	}
	return dst
}
