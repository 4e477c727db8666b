package shadow

import (
	"bytes"
	"encoding/json"
)

// Redact replaces, in a JSON body, the value at every position one of paths
// covers with the JSON string with, and returns the new body and true. A body
// that is not a JSON object or array, or where no path matches, is returned
// as it is with false. A rewritten body is compact and has its object members
// sorted by name; numbers keep their text. Paths use the grammar of ParsePath,
// the same as the shadow comparison's ignore paths, so one list of paths
// means one set of positions everywhere.
func Redact(body []byte, paths []Path, with string) ([]byte, bool) {
	if len(paths) == 0 {
		return body, false
	}
	v, ok := decodeJSON(body)
	if !ok {
		return body, false
	}
	var buf [8]step
	v, changed := redactValue(v, paths, with, buf[:0])
	if !changed {
		return body, false
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return body, false
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), true
}

func redactValue(v any, paths []Path, with string, at []step) (any, bool) {
	if len(at) > 0 && ignored(at, paths) {
		return with, true
	}
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			nv, ch := redactValue(c, paths, with, append(at, step{kind: stepMember, name: k}))
			if ch {
				x[k], changed = nv, true
			}
		}
	case []any:
		for i, c := range x {
			nv, ch := redactValue(c, paths, with, append(at, step{kind: stepIndex, index: i}))
			if ch {
				x[i], changed = nv, true
			}
		}
	}
	return v, changed
}
