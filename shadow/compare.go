package shadow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

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

// CompareBodies compares legacy's response body with the isolate's. When both are a
// JSON object or array they are compared structurally (member order and whitespace
// do not matter, numbers compare by value, positions matching an ignore rule are
// skipped) and path is the first differing position ("$.users[2].email");
// otherwise the bytes are compared and path is "". a and b are the differing
// values, truncated to 256 bytes; "(missing)" stands for an absent member or
// element. Differences at positions noise holds are skipped too, and so are byte
// differences of a non-JSON legacy body when noise holds "body"; noise may be nil.
func CompareBodies(legacy, iso []byte, ignore []Path, noise *Noise) (path, a, b string, equal bool) {
	lv, lok := decodeJSON(legacy)
	iv, iok := decodeJSON(iso)
	if lok && iok {
		d := differ{ignore: ignore, noise: noise}
		var buf [8]step
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

// AppendBodyNoise appends to keys what differs between two answers of legacy, for
// Noise.Observe: the normalised path of every JSON difference not covered by ignore
// ("$.items[*].id", at most 256 of them), or "body" when neither is JSON and the
// bytes differ. A JSON body against a non-JSON one teaches nothing.
func AppendBodyNoise(keys []string, b1, b2 []byte, ignore []Path) []string {
	v1, ok1 := decodeJSON(b1)
	v2, ok2 := decodeJSON(b2)
	switch {
	case ok1 && ok2:
		d := differ{ignore: ignore, learn: true, keys: keys}
		var buf [8]step
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

func ignored(at []step, ignore []Path) bool {
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
	ignore []Path
	noise  *Noise
	learn  bool
	keys   []string
	key    [96]byte // scratch for noise lookups, so most keys need no allocation

	at   []step
	a, b any
}

// diff handles a difference at at (valid only during the call) and reports whether
// the walk goes on.
func (d *differ) diff(at []step, a, b any) bool {
	if d.learn {
		if len(d.keys) >= maxNoiseDiffs {
			return false
		}
		d.keys = append(d.keys, normalizePath(formatPath(at)))
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
func (d *differ) walk(a, b any, at []step) bool {
	if ignored(at, d.ignore) {
		return true
	}
	switch x := a.(type) {
	case map[string]any:
		if y, ok := b.(map[string]any); ok {
			return d.walkObject(x, y, at)
		}
	case []any:
		if y, ok := b.([]any); ok {
			return d.walkArray(x, y, at)
		}
	case json.Number:
		if y, ok := b.(json.Number); ok && sameNumber(x, y) {
			return true
		}
	case string, bool, nil:
		if a == b {
			return true
		}
	}
	return d.diff(at, a, b)
}

// walkObject compares two objects member by member, in the order of their sorted
// names so that the first difference found does not depend on map order.
func (d *differ) walkObject(x, y map[string]any, at []step) bool {
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
		child := append(at, step{kind: stepMember, name: k})
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
}

// walkArray compares two arrays element by element; the elements past the end of
// the shorter one differ from a missing element.
func (d *differ) walkArray(x, y []any, at []step) bool {
	for i := range max(len(x), len(y)) {
		child := append(at, step{kind: stepIndex, index: i})
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
}

// sameNumber reports whether two numbers are equal as written or by value (1.0 and
// 1, 1e2 and 100).
func sameNumber(x, y json.Number) bool {
	if x == y {
		return true
	}
	fx, ex := x.Float64()
	fy, ey := y.Float64()
	return ex == nil && ey == nil && fx == fy
}

// CompareHeader compares the values of the header called name in legacy's answer
// and the isolate's (every value of the field joined with ", "). A difference is
// skipped when noise (nil for none) holds the header. The values returned for a
// difference are truncated, and redacted for credentials and cookies, so that
// they can be kept and shown.
func CompareHeader(name, legacy, iso string, noise *Noise) (a, b string, equal bool) {
	if legacy == iso || noise.hasHeader(name) {
		return "", "", true
	}
	if sensitive(name) {
		legacy, iso = redact(legacy), redact(iso)
	}
	return truncate(legacy), truncate(iso), false
}

// sensitive lists headers whose values never go into a difference.
func sensitive(name string) bool {
	return strings.EqualFold(name, "Authorization") || strings.EqualFold(name, "Cookie") ||
		strings.EqualFold(name, "Set-Cookie") || strings.EqualFold(name, "Proxy-Authorization")
}

func redact(v string) string {
	if v == "" {
		return ""
	}
	return "[redacted]"
}

// maxValue bounds each differing value returned.
const maxValue = 256

func truncate(s string) string {
	if len(s) <= maxValue {
		return s
	}
	return s[:maxValue] + "…"
}
