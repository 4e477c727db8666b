package strangler

import (
	"bytes"
	"strings"

	"github.com/edged/edged/internal/fieldname"
)

// matcher is the compiled, immutable form of a route set's match fields. Routes are referred to by their index in
// Snapshot.routes plus one, so that a zero ref means "none" and an Update that changes only Stage/Weight/Step/Paused
// can reuse the matcher unchanged with a new routes slice.
type matcher struct {
	exact map[string]*pathNode // lower-cased host without port -> its paths
	wild  map[string]*pathNode // suffix of "*.suffix" -> its paths
	any   *pathNode            // routes without a host; nil if none
}

// pathNode is one segment of a path trie. The root stands for the prefix "/" (which, ending in "/", lives in slash).
type pathNode struct {
	children map[string]*pathNode // next segment -> node, when there are more than smallFanout
	kids     []pathKid            // next segments, when there are at most smallFanout (then children is nil)
	bare     methodSet            // routes whose prefix ends at this segment without a trailing "/"
	slash    methodSet            // routes whose prefix ends at this segment with a trailing "/"
}

// pathKid is one entry of a small node's child list.
type pathKid struct {
	seg  string
	node *pathNode
}

// smallFanout is the child count up to which a linear scan (a length check and a short compare per child) beats
// hashing the segment for a map lookup. Most trie nodes are this small.
const smallFanout = 8

// child returns the child for segment seg, compared without regard to ASCII case (the
// trie holds lower-cased segments), or nil.
func (n *pathNode) child(seg []byte) *pathNode {
	if n.children != nil {
		if !hasUpper(seg) {
			return n.children[string(seg)]
		}
		var buf [maxFoldedSeg]byte
		if len(seg) <= len(buf) {
			return n.children[string(appendLower(buf[:0], seg))]
		}
		// Longer than any segment worth a stack buffer: rare, so scan.
		for k, c := range n.children {
			if fieldname.Equal(seg, k) {
				return c
			}
		}
		return nil
	}
	for i := range n.kids {
		if fieldname.Equal(seg, n.kids[i].seg) {
			return n.kids[i].node
		}
	}
	return nil
}

// maxFoldedSeg bounds the stack buffer child lower-cases a segment into.
const maxFoldedSeg = 128

// hasUpper reports whether b has an ASCII upper-case letter.
func hasUpper(b []byte) bool {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}

// appendLower appends b to dst with ASCII letters lower-cased.
func appendLower(dst, b []byte) []byte {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// foldPath lower-cases the ASCII letters of a route path: paths are matched without
// regard to ASCII case (see Route.Path).
func foldPath(p string) string { return string(appendLower(make([]byte, 0, len(p)), []byte(p))) }

// freeze turns the child maps of small nodes into slices, below n. Called once, after all inserts.
func (n *pathNode) freeze() {
	if n == nil {
		return
	}
	for _, c := range n.children {
		c.freeze()
	}
	if len(n.children) <= smallFanout {
		for seg, c := range n.children {
			n.kids = append(n.kids, pathKid{seg, c})
		}
		// Copy the segments into one string so that scanning the kids touches a cache line or two, not one per
		// route path they were cut from.
		var all strings.Builder
		for _, k := range n.kids {
			all.WriteString(k.seg)
		}
		packed := all.String()
		for i := range n.kids {
			l := len(n.kids[i].seg)
			n.kids[i].seg, packed = packed[:l], packed[l:]
		}
		n.children = nil
	}
}

// methodSet holds the routes that share one host and one prefix. Validation guarantees at most one route per method
// and at most one without methods.
type methodSet struct {
	methods []methodRef
	any     uint32 // ref of the route without a method list, 0 if none
}

type methodRef struct {
	method string
	ref    uint32
}

// pick returns the route for method, preferring one that lists it over one that lists no methods; 0 if none.
func (m *methodSet) pick(method []byte) uint32 {
	for i := range m.methods {
		if m.methods[i].method == string(method) {
			return m.methods[i].ref
		}
	}
	return m.any
}

// compile builds the matcher for routes, which must have passed validateSet.
func compile(routes []*Route) *matcher {
	m := &matcher{exact: map[string]*pathNode{}, wild: map[string]*pathNode{}}
	for i, r := range routes {
		key, wild, _ := normRouteHost(r.Host)
		var root *pathNode
		switch {
		case r.Host == "":
			if m.any == nil {
				m.any = &pathNode{}
			}
			root = m.any
		case wild:
			if root = m.wild[key]; root == nil {
				root = &pathNode{}
				m.wild[key] = root
			}
		default:
			if root = m.exact[key]; root == nil {
				root = &pathNode{}
				m.exact[key] = root
			}
		}
		set := root.insert(foldPath(r.Path))
		ref := uint32(i + 1)
		if len(r.Methods) == 0 {
			set.any = ref
		}
		for _, meth := range r.Methods {
			set.methods = append(set.methods, methodRef{meth, ref})
		}
	}
	m.any.freeze()
	for _, n := range m.exact {
		n.freeze()
	}
	for _, n := range m.wild {
		n.freeze()
	}
	return m
}

// insert returns the methodSet for prefix p, creating trie nodes as needed.
func (n *pathNode) insert(p string) *methodSet {
	if p == "/" {
		return &n.slash
	}
	rest := p[1:]
	for {
		seg, tail, more := strings.Cut(rest, "/")
		if n.children == nil {
			n.children = map[string]*pathNode{}
		}
		c := n.children[seg]
		if c == nil {
			c = &pathNode{}
			n.children[seg] = c
		}
		n = c
		switch {
		case !more:
			return &n.bare
		case tail == "":
			return &n.slash
		}
		rest = tail
	}
}

// lookup returns the route matching the longest prefix of path that has a route for method; 0 if none.
func (n *pathNode) lookup(path, method []byte) uint32 {
	if n == nil || len(path) == 0 || path[0] != '/' {
		return 0
	}
	best := n.slash.pick(method)
	pos := 1
	for {
		end := bytes.IndexByte(path[pos:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += pos
		}
		c := n.child(path[pos:end])
		if c == nil {
			return best
		}
		n = c
		// The prefix "/seg" matches when the path ends here or continues with "/"; "/seg/" only when it continues.
		if ref := n.bare.pick(method); ref != 0 {
			best = ref
		}
		if end == len(path) {
			return best
		}
		if ref := n.slash.pick(method); ref != 0 {
			best = ref
		}
		pos = end + 1
	}
}

// hostBufLen bounds the stack buffer used to lower-case a request host: longer than any route host (253) plus the
// dot that precedes a wildcard suffix.
const hostBufLen = 256

// match finds the route for a request. Host tiers are tried in order: exact host, then wildcard hosts from the
// longest suffix to the shortest, then routes without a host; the first tier with a matching route wins.
func (m *matcher) match(host, path, method []byte) uint32 {
	// Strip the port: "[::1]:80" -> "[::1]", "example.com:80" -> "example.com"; then one trailing dot.
	if len(host) > 0 && host[0] == '[' {
		if i := bytes.IndexByte(host, ']'); i >= 0 {
			host = host[:i+1]
		}
	} else if i := bytes.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	if len(host) > 0 && (len(m.exact) > 0 || len(m.wild) > 0) {
		var buf [hostBufLen]byte
		// A host longer than the buffer cannot equal a route host; only its tail can hold a wildcard suffix.
		whole := len(host) <= len(buf)
		tail := host
		if !whole {
			tail = host[len(host)-len(buf):]
		}
		h := buf[:len(tail)]
		for i, c := range tail {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			h[i] = c
		}
		if whole {
			if n := m.exact[string(h)]; n != nil {
				if ref := n.lookup(path, method); ref != 0 {
					return ref
				}
			}
		}
		if len(m.wild) > 0 {
			// The first dot gives the longest suffix. A wildcard needs at least one byte before its dot.
			for i := 0; i < len(h); i++ {
				if h[i] != '.' || i == 0 && whole {
					continue
				}
				if n := m.wild[string(h[i+1:])]; n != nil {
					if ref := n.lookup(path, method); ref != 0 {
						return ref
					}
				}
			}
		}
	}
	return m.any.lookup(path, method)
}
