package isolate

import "github.com/edged/edged/internal/fieldname"

// Header is an ordered list of HTTP header fields. Names keep the case they were
// given (an edge proxy must not rewrite them) and compare case-insensitively.
// Repeated names keep their order. The zero value is an empty header ready to
// use. A Header is not safe for concurrent use.
//
// Header reuses its storage across Reset calls so that pooled Requests and
// Responses carry headers without allocating per request.
type Header struct {
	fields []field
	n      int // fields[:n] are live; the rest keep their capacity for reuse
}

type field struct {
	name, value []byte
}

// Reset empties h, keeping its storage.
func (h *Header) Reset() { h.n = 0 }

// Len reports the number of fields, counting repeated names separately.
func (h *Header) Len() int { return h.n }

// At returns the i-th field. The slices stay valid until h is next modified.
func (h *Header) At(i int) (name, value []byte) {
	f := &h.fields[i]
	return f.name, f.value
}

// Add appends a field, copying name and value.
func (h *Header) Add(name, value []byte) {
	if h.n < len(h.fields) {
		f := &h.fields[h.n]
		f.name = append(f.name[:0], name...)
		f.value = append(f.value[:0], value...)
	} else {
		h.fields = append(h.fields, field{
			name:  append([]byte(nil), name...),
			value: append([]byte(nil), value...),
		})
	}
	h.n++
}

// AddString is Add for strings.
func (h *Header) AddString(name, value string) {
	if h.n < len(h.fields) {
		f := &h.fields[h.n]
		f.name = append(f.name[:0], name...)
		f.value = append(f.value[:0], value...)
	} else {
		h.fields = append(h.fields, field{name: []byte(name), value: []byte(value)})
	}
	h.n++
}

// Set replaces every field named name with one field holding value. The new
// field takes the place of the first one it replaces, so order is kept.
func (h *Header) Set(name, value []byte) {
	first := -1
	for i := 0; i < h.n; i++ {
		if fieldname.EqualBytes(h.fields[i].name, name) {
			first = i
			break
		}
	}
	if first < 0 {
		h.Add(name, value)
		return
	}
	h.fields[first].value = append(h.fields[first].value[:0], value...)
	h.delFrom(first+1, name)
}

// SetString is Set for strings.
func (h *Header) SetString(name, value string) { h.Set([]byte(name), []byte(value)) }

// Del removes every field named name, keeping the order of the others.
func (h *Header) Del(name []byte) { h.delFrom(0, name) }

// DelString is Del for a string name.
func (h *Header) DelString(name string) { h.Del([]byte(name)) }

// delFrom removes fields named name at index >= from. It shifts the survivors
// down instead of swapping with the last field: the order of repeated headers
// is part of their meaning.
func (h *Header) delFrom(from int, name []byte) {
	w := from
	for r := from; r < h.n; r++ {
		if fieldname.EqualBytes(h.fields[r].name, name) {
			continue
		}
		if w != r {
			h.fields[w], h.fields[r] = h.fields[r], h.fields[w]
		}
		w++
	}
	h.n = w
}

// Get returns the first value of name, or nil. The slice stays valid until h is
// next modified.
func (h *Header) Get(name []byte) []byte {
	for i := 0; i < h.n; i++ {
		if fieldname.EqualBytes(h.fields[i].name, name) {
			return h.fields[i].value
		}
	}
	return nil
}

// GetString is Get for a string name, returning a copy.
func (h *Header) GetString(name string) string {
	return string(h.Get([]byte(name)))
}

// CopyTo replaces dst's fields with h's.
func (h *Header) CopyTo(dst *Header) {
	dst.Reset()
	for i := 0; i < h.n; i++ {
		dst.Add(h.fields[i].name, h.fields[i].value)
	}
}
