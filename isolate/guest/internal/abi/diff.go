package abi

import "net/http"

// HeaderOp is one change DiffHeader found: Values nil means remove the header
// Name; otherwise Name's values become exactly Values (the first through
// set_header_value, the rest through add_header_value).
type HeaderOp struct {
	Name   string
	Values []string
}

// DiffHeader calls fn with the operations that turn before into after,
// removals first, then changed or new names. Names are compared as they are
// keyed in the maps (canonical form, as net/http keeps them). Headers whose
// values are unchanged produce no operation, so a middleware that touches
// nothing costs no host calls. The order of names is that of map iteration:
// hosts apply each operation independently, so order does not matter.
func DiffHeader(before, after http.Header, fn func(HeaderOp)) {
	for name := range before {
		if vs, ok := after[name]; !ok || len(vs) == 0 {
			fn(HeaderOp{Name: name})
		}
	}
	for name, vs := range after {
		if len(vs) == 0 {
			continue
		}
		if equalValues(before[name], vs) {
			continue
		}
		fn(HeaderOp{Name: name, Values: vs})
	}
}

func equalValues(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
