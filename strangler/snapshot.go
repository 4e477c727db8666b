package strangler

import (
	"slices"
	"strings"
)

// Snapshot is an immutable view of a Table's routes at one version. Readers get one from Table.Snapshot without
// locking and may keep it as long as they like; a later change to the Table publishes a new Snapshot and leaves
// this one untouched. All methods are safe for concurrent use.
type Snapshot struct {
	version uint64
	routes  []*Route // sorted by Name; shared, read-only
	m       *matcher
	targets any // see Targets
}

// Lookup returns the route for a request, or (nil, false) if none matches.
//
// host, path and method are raw bytes owned by the caller; Lookup does not retain them. host may carry a ":port"
// and any ASCII case; path is the request path without the query string, already normalised by the router (no
// "..", no "//") and compared without regard to ASCII letter case; method is compared exactly ("GET" is not "get"). The most specific route wins:
//
//   - host tiers, in order: the exact host, then wildcard hosts from the longest suffix to the shortest, then routes
//     without a host; a tier is used only if one of its routes matches path and method;
//   - within a tier, the longest matching path prefix ("/api/" is longer than "/api");
//   - among routes with the same prefix, one whose Methods lists method beats one without Methods. A route whose
//     Methods does not list method does not match, so a shorter prefix may win instead.
//
// The returned *Route points into the snapshot and must not be modified. Lookup does not allocate.
func (s *Snapshot) Lookup(host, path, method []byte) (*Route, bool) {
	ref := s.m.match(host, path, method)
	if ref == 0 {
		return nil, false
	}
	return s.routes[ref-1], true
}

// Version counts the route changes of the Table this snapshot came from: 1 for the route set given to NewTable,
// plus one for every Replace and every Update. A higher Version is a newer snapshot.
func (s *Snapshot) Version() uint64 { return s.version }

// Targets returns the value published with the snapshot's routes by ReplaceTargets or SetTargets, nil if none
// was: in edged, the router's World, in which the routes' Upstream and Function names are resolved. A reader that
// takes both from one snapshot never sees a route next to targets built for another route set. Replace and Update
// carry the targets over unchanged.
func (s *Snapshot) Targets() any { return s.targets }

// Len returns the number of routes in the snapshot.
func (s *Snapshot) Len() int { return len(s.routes) }

// Route returns the route called name, or (nil, false). The *Route is read-only, as with Lookup.
func (s *Snapshot) Route(name string) (*Route, bool) {
	i, ok := slices.BinarySearchFunc(s.routes, name, func(r *Route, name string) int { return strings.Compare(r.Name, name) })
	if !ok {
		return nil, false
	}
	return s.routes[i], true
}

// Routes returns copies of all routes, sorted by name; the caller owns them.
func (s *Snapshot) Routes() []Route {
	out := make([]Route, len(s.routes))
	for i, r := range s.routes {
		out[i] = r.clone()
	}
	return out
}

// newSnapshot compiles a snapshot of routes, which must have passed validateSet. It copies them, so the caller
// keeps ownership of its slice.
func newSnapshot(version uint64, routes []Route) *Snapshot {
	rs := make([]*Route, len(routes))
	for i := range routes {
		c := routes[i].clone()
		rs[i] = &c
	}
	slices.SortFunc(rs, func(a, b *Route) int { return strings.Compare(a.Name, b.Name) })
	return &Snapshot{version: version, routes: rs, m: compile(rs)}
}

// withRoute returns a copy of s at version in which the route called r.Name is replaced by r. The matcher is shared:
// r must differ from the old route only in fields that do not take part in matching.
func (s *Snapshot) withRoute(version uint64, r *Route) *Snapshot {
	i, _ := slices.BinarySearchFunc(s.routes, r.Name, func(x *Route, name string) int { return strings.Compare(x.Name, name) })
	rs := slices.Clone(s.routes)
	rs[i] = r
	return &Snapshot{version: version, routes: rs, m: s.m, targets: s.targets}
}
