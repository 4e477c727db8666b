package router

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
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

// ValidateJSONPath checks an ignore path (RouteOptions.IgnoreFields) with the
// parser that compiles it, so configuration checks and the router cannot
// disagree on the grammar: "$" followed by steps ".name" (letters, digits,
// '_', '-'), ".*", "[N]" or "[*]". Its error wraps ErrBadJSONPath.
func ValidateJSONPath(s string) error {
	_, err := parseJSONPath(s)
	return err
}

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
func formatPath(at []jstep) string { return string(appendPath(make([]byte, 0, 32), at, false)) }

// appendNoiseKey appends at as formatPath renders it but with every index as "[*]":
// the key of the position in a noise set (normalizeJSONPath of formatPath).
func appendNoiseKey(dst []byte, at []jstep) []byte { return appendPath(dst, at, true) }

func appendPath(dst []byte, at []jstep, anyIndex bool) []byte {
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
	return compareBodiesNoise(legacy, iso, ignore, nil)
}

// compareBodiesNoise is compareBodies that also skips differences at positions the
// noise set holds (normalised, see appendNoiseKey), and byte differences of a
// non-JSON legacy body when the set holds "body". noise may be nil.
func compareBodiesNoise(legacy, iso []byte, ignore []jsonPath, noise *noiseSet) (path, a, b string, equal bool) {
	lv, lok := decodeJSON(legacy)
	iv, iok := decodeJSON(iso)
	if lok && iok {
		d := differ{ignore: ignore, noise: noise}
		var buf [8]jstep
		if d.walk(lv, iv, buf[:0]) {
			return "", "", "", true
		}
		return formatPath(d.at), truncate(renderJSON(d.a)), truncate(renderJSON(d.b)), false
	}
	if bytes.Equal(legacy, iso) || !lok && noise.has([]byte(noiseBody)) {
		return "", "", "", true
	}
	return "", truncate(string(legacy)), truncate(string(iso)), false
}

// appendBodyNoise appends to keys what differs between two answers of legacy: the
// normalised path of every JSON difference not covered by ignore (at most
// maxNoiseDiffs), or "body" when neither is JSON and the bytes differ. A JSON body
// against a non-JSON one teaches nothing.
func appendBodyNoise(keys []string, b1, b2 []byte, ignore []jsonPath) []string {
	v1, ok1 := decodeJSON(b1)
	v2, ok2 := decodeJSON(b2)
	switch {
	case ok1 && ok2:
		d := differ{ignore: ignore, learn: true, keys: keys}
		var buf [8]jstep
		d.walk(v1, v2, buf[:0])
		return d.keys
	case !ok1 && !ok2 && !bytes.Equal(b1, b2):
		return append(keys, noiseBody)
	}
	return keys
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

// differ walks two JSON values together, depth first, skipping positions covered by
// ignore. By default it stops at the first difference whose position is not in noise
// and keeps it in at, a and b; with learn set it collects the normalised path of
// every difference into keys instead.
type differ struct {
	ignore []jsonPath
	noise  *noiseSet
	learn  bool
	keys   []string
	key    [96]byte // scratch for noise lookups, so most keys need no allocation

	at   []jstep
	a, b any
}

// diff handles a difference at at (valid only during the call) and reports whether
// the walk goes on.
func (d *differ) diff(at []jstep, a, b any) bool {
	if d.learn {
		if len(d.keys) >= maxNoiseDiffs {
			return false
		}
		d.keys = append(d.keys, normalizeJSONPath(formatPath(at)))
		return true
	}
	if d.noise != nil {
		if d.noise.has(appendNoiseKey(d.key[:0], at)) {
			return true
		}
	}
	d.at, d.a, d.b = slices.Clone(at), a, b
	return false
}

// walk compares a and b at position at and reports whether the walk goes on (false
// once diff has stopped it).
func (d *differ) walk(a, b any, at []jstep) bool {
	if ignored(at, d.ignore) {
		return true
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return d.diff(at, a, b)
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
				if ignored(child, d.ignore) {
					continue
				}
				if !oka {
					va = missing{}
				}
				if !okb {
					vb = missing{}
				}
				if !d.diff(child, va, vb) {
					return false
				}
				continue
			}
			if !d.walk(va, vb, child) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok {
			return d.diff(at, a, b)
		}
		for i := range max(len(x), len(y)) {
			child := append(at, jstep{kind: stepIndex, index: i})
			if i >= len(x) || i >= len(y) {
				if ignored(child, d.ignore) {
					continue
				}
				var va, vb any = missing{}, missing{}
				if i < len(x) {
					va = x[i]
				}
				if i < len(y) {
					vb = y[i]
				}
				if !d.diff(child, va, vb) {
					return false
				}
				continue
			}
			if !d.walk(x[i], y[i], child) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return d.diff(at, a, b)
		}
		if x == y {
			return true
		}
		fx, ex := x.Float64()
		fy, ey := y.Float64()
		if ex == nil && ey == nil && fx == fy {
			return true
		}
		return d.diff(at, a, b)
	case string, bool, nil:
		if a == b {
			return true
		}
		return d.diff(at, a, b)
	}
	return d.diff(at, a, b)
}
