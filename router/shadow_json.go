package router

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// ErrBadJSONPath is matched by the errors NewServer and Swap give for an ignore path
// (RouteOptions.IgnoreFields) that does not parse.
var ErrBadJSONPath = errors.New("bad JSON path")

// jstep is one step of a JSON path: a member name, any member (".*"), an array index,
// or any index ("[*]"). Concrete positions use member and index steps only.
type jstep struct {
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

// jsonPath is a parsed ignore rule such as "$.items[*].id".
type jsonPath []jstep

// parseJSONPath parses "$" followed by steps: ".name" (letters, digits, '_', '-'),
// ".*", "[N]" or "[*]". It is the syntax internal/config validates.
func parseJSONPath(s string) (jsonPath, error) {
	bad := func(msg string, at int) (jsonPath, error) {
		return nil, fmt.Errorf("parse %q: %w: %s at offset %d", s, ErrBadJSONPath, msg, at)
	}
	if s == "" || s[0] != '$' {
		return bad(`want "$"`, 0)
	}
	p := jsonPath{}
	i := 1
	for i < len(s) {
		switch s[i] {
		case '.':
			i++
			if i < len(s) && s[i] == '*' {
				p = append(p, jstep{kind: stepAnyMember})
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
			p = append(p, jstep{kind: stepMember, name: s[start:i]})
		case '[':
			i++
			if i < len(s) && s[i] == '*' {
				p = append(p, jstep{kind: stepAnyIndex})
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
				p = append(p, jstep{kind: stepIndex, index: n})
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
func (p jsonPath) matches(at []jstep) bool {
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
func formatPath(at []jstep) string {
	var sb strings.Builder
	sb.WriteByte('$')
	for _, s := range at {
		if s.kind == stepIndex {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(s.index))
			sb.WriteByte(']')
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
			sb.WriteByte('.')
			sb.WriteString(s.name)
		} else {
			sb.WriteByte('[')
			sb.WriteString(strconv.Quote(s.name))
			sb.WriteByte(']')
		}
	}
	return sb.String()
}

// decodeJSON parses b as exactly one JSON value, keeping numbers as written. ok is
// false for anything else.
func decodeJSON(b []byte) (v any, ok bool) {
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return v, true
}

// compareBodies compares two response bodies. When both are a JSON object or array
// they are compared structurally (member order and whitespace do not matter, numbers
// compare by value, positions matching an ignore rule are skipped) and path is the
// first differing position; otherwise the bytes are compared and path is "". a and b
// are the differing values, truncated; "(missing)" stands for an absent member or
// element.
func compareBodies(legacy, iso []byte, ignore []jsonPath) (path, a, b string, equal bool) {
	lv, lok := decodeJSON(legacy)
	iv, iok := decodeJSON(iso)
	if lok && iok {
		at, x, y, eq := compareJSON(lv, iv, make([]jstep, 0, 8), ignore)
		if eq {
			return "", "", "", true
		}
		return formatPath(at), truncate(renderJSON(x)), truncate(renderJSON(y)), false
	}
	if bytes.Equal(legacy, iso) {
		return "", "", "", true
	}
	return "", truncate(string(legacy)), truncate(string(iso)), false
}

// missing marks an absent member or element in a difference.
type missing struct{}

func renderJSON(v any) string {
	if _, ok := v.(missing); ok {
		return "(missing)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func ignored(at []jstep, ignore []jsonPath) bool {
	for _, p := range ignore {
		if p.matches(at) {
			return true
		}
	}
	return false
}

// compareJSON walks a and b together depth first and returns the first difference
// not covered by ignore: its position (a fresh slice) and the two values there.
func compareJSON(a, b any, at []jstep, ignore []jsonPath) ([]jstep, any, any, bool) {
	if ignored(at, ignore) {
		return nil, nil, nil, true
	}
	diff := func() ([]jstep, any, any, bool) { return slices.Clone(at), a, b, false }
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return diff()
		}
		keys := make([]string, 0, len(x)+len(y))
		for k := range x {
			keys = append(keys, k)
		}
		for k := range y {
			if _, ok := x[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			child := append(at, jstep{kind: stepMember, name: k})
			va, oka := x[k]
			vb, okb := y[k]
			if !oka || !okb {
				if ignored(child, ignore) {
					continue
				}
				if !oka {
					va = missing{}
				}
				if !okb {
					vb = missing{}
				}
				return slices.Clone(child), va, vb, false
			}
			if p, da, db, eq := compareJSON(va, vb, child, ignore); !eq {
				return p, da, db, false
			}
		}
		return nil, nil, nil, true
	case []any:
		y, ok := b.([]any)
		if !ok {
			return diff()
		}
		for i := range max(len(x), len(y)) {
			child := append(at, jstep{kind: stepIndex, index: i})
			if i >= len(x) || i >= len(y) {
				if ignored(child, ignore) {
					continue
				}
				var va, vb any = missing{}, missing{}
				if i < len(x) {
					va = x[i]
				}
				if i < len(y) {
					vb = y[i]
				}
				return slices.Clone(child), va, vb, false
			}
			if p, da, db, eq := compareJSON(x[i], y[i], child, ignore); !eq {
				return p, da, db, false
			}
		}
		return nil, nil, nil, true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return diff()
		}
		if x == y {
			return nil, nil, nil, true
		}
		fx, ex := x.Float64()
		fy, ey := y.Float64()
		if ex == nil && ey == nil && fx == fy {
			return nil, nil, nil, true
		}
		return diff()
	case string, bool, nil:
		if a == b {
			return nil, nil, nil, true
		}
		return diff()
	}
	return diff()
}
