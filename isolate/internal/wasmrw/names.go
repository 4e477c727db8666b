package wasmrw

// custom returns the custom section payload data as it must appear in the
// output: unchanged, except the "name" section, whose function indices shift
// with the function index space. A name section we cannot parse is dropped
// rather than failing the module: names are debug information, engines
// ignore malformed ones, and a wrong name is worse than none.
//
// Other custom sections are copied verbatim. DWARF (.debug_*) sections keep
// describing the input's code offsets, which instrumentation moves.
func (rw *rewriter) custom(data []byte) []byte {
	r := &reader{buf: data}
	name := r.name()
	if r.err != nil || string(name) != "name" {
		// A custom section whose name is malformed is itself malformed
		// only as a custom section; engines skip it, so we keep it.
		return data
	}
	out, ok := rw.nameSection(data[:r.pos], data[r.pos:])
	if !ok {
		rw.changed = true
		return nil
	}
	return out
}

// nameSection rewrites the subsections of the name section that are keyed by
// function index: function names (1), local names (2) and label names (3).
// Entries stay sorted because the shift is monotonic.
func (rw *rewriter) nameSection(prefix, data []byte) ([]byte, bool) {
	out := append(make([]byte, 0, len(prefix)+len(data)+16), prefix...)
	r := &reader{buf: data}
	var sub []byte
	for !r.eof() {
		id := r.byte()
		size := r.u32()
		content := r.bytes(int(size))
		if r.err != nil {
			return nil, false
		}
		switch id {
		case 1, 2, 3:
			var ok bool
			sub, ok = rw.nameMap(sub[:0], content, id != 1)
			if !ok {
				return nil, false
			}
			content = sub
		}
		out = append(out, id)
		out = appendU32(out, uint32(len(content)))
		out = append(out, content...)
	}
	return out, r.err == nil
}

// nameMap rewrites a name map (function index -> name) or, when indirect, an
// indirect name map (function index -> name map), shifting the outer index.
func (rw *rewriter) nameMap(out, data []byte, indirect bool) ([]byte, bool) {
	r := &reader{buf: data}
	n := r.count(2)
	out = appendU32(out, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		f := r.u32()
		start := r.pos
		if indirect {
			k := r.count(2)
			for j := uint32(0); j < k && r.err == nil; j++ {
				r.u32()
				r.name()
			}
		} else {
			r.name()
		}
		if r.err != nil {
			break
		}
		out = appendU32(out, rw.shiftFunc(f))
		out = append(out, data[start:r.pos]...)
	}
	return out, r.err == nil && r.eof()
}
