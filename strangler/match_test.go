package strangler

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// lookupRoutes is the route set of the Lookup semantics tests and the fuzz seed corpus.
func lookupRoutes() []Route {
	r := func(name, host, path string, methods ...string) Route {
		rt := okRoute(name, path)
		rt.Host, rt.Methods = host, methods
		return rt
	}
	return []Route{
		r("root", "", "/"),
		r("api", "", "/api"),
		r("api-slash", "", "/api/"),
		r("api-v1", "", "/api/v1"),
		r("api-v1-post", "", "/api/v1", "POST"),
		r("users", "", "/api/v1/users/", "GET", "HEAD"),
		r("deep", "", "/a/b/c"),
		r("ex-root", "example.com", "/"),
		r("ex-api", "Example.COM", "/api"),
		r("ex-only-get", "get.example.com", "/x", "GET"),
		r("wild", "*.example.com", "/"),
		r("wild-api", "*.example.com", "/api"),
		r("wild-b", "*.b.example.com", "/api/v1"),
		r("v6", "[::1]", "/v6"),
		r("dot", "dot.test.", "/dot"),
	}
}

func TestLookup(t *testing.T) {
	tab, err := NewTable(lookupRoutes())
	if err != nil {
		t.Fatal(err)
	}
	snap := tab.Snapshot()
	tests := []struct {
		name, host, path, method string
		want                     string // route name, "" for no match
	}{
		{"catch-all", "", "/anything", "GET", "root"},
		{"root path", "", "/", "GET", "root"},
		{"exact prefix", "", "/api", "GET", "api"},
		{"prefix below", "", "/api/x", "GET", "api-slash"},
		{"slash prefix", "", "/api/", "GET", "api-slash"},
		{"segment boundary", "", "/apix", "GET", "root"},
		{"longest prefix", "", "/api/v1/x", "GET", "api-v1"},
		{"longest prefix exact", "", "/api/v1", "GET", "api-v1"},
		{"method beats no list", "", "/api/v1", "POST", "api-v1-post"},
		{"method beats no list below", "", "/api/v1/x", "POST", "api-v1-post"},
		{"method list excludes", "", "/api/v1/users/7", "POST", "api-v1-post"},
		{"method list includes", "", "/api/v1/users/7", "HEAD", "users"},
		{"slash prefix needs slash", "", "/api/v1/users", "GET", "api-v1"},
		{"method case sensitive", "", "/api/v1", "post", "api-v1"},
		{"deep", "", "/a/b/c/d", "GET", "deep"},
		// Paths match without regard to ASCII case, so no spelling skips a route.
		{"upper-case path", "", "/API/V1/X", "GET", "api-v1"},
		{"mixed-case path", "", "/Api/v1/Users/7", "HEAD", "users"},
		{"upper-case deep", "", "/A/B/C", "GET", "deep"},
		{"case does not join segments", "", "/APIX", "GET", "root"},
		{"deep partial", "", "/a/b", "GET", "root"},
		{"deep sibling", "", "/a/b/cd", "GET", "root"},
		{"exact host", "example.com", "/api/x", "GET", "ex-api"},
		{"exact host case and port", "EXAMPLE.com:8080", "/api", "GET", "ex-api"},
		{"exact host trailing dot", "example.com.", "/api", "GET", "ex-api"},
		{"exact host beats longer any-host prefix", "example.com", "/api/v1/x", "GET", "ex-api"},
		{"exact host root", "example.com", "/other", "GET", "ex-root"},
		{"wildcard", "a.example.com", "/other", "GET", "wild"},
		{"wildcard many labels", "x.y.z.example.com", "/api", "GET", "wild-api"},
		{"wildcard not apex", "example.org", "/api", "GET", "api"},
		{"longer wildcard wins", "a.b.example.com", "/api/v1/x", "GET", "wild-b"},
		{"longer wildcard falls through", "a.b.example.com", "/api/x", "GET", "wild-api"},
		{"wildcard suffix is not exact", "b.example.com", "/api/v1", "GET", "wild-api"},
		{"exact host falls through to wildcard", "get.example.com", "/x", "POST", "wild"},
		{"exact host method", "get.example.com", "/x", "GET", "ex-only-get"},
		{"wildcard with port", "A.Example.Com:443", "/", "GET", "wild"},
		{"ipv6 host", "[::1]:8080", "/v6/x", "GET", "v6"},
		{"ipv6 host no port", "[::1]", "/v6", "GET", "v6"},
		{"ipv6 other path", "[::1]", "/api", "GET", "api"},
		{"route host trailing dot", "DOT.test", "/dot", "GET", "dot"},
		{"unknown host", "other.net", "/api/v1", "POST", "api-v1-post"},
		{"no leading slash", "", "api", "GET", ""},
		{"empty path", "", "", "GET", ""},
		{"long host", strings.Repeat("a", 300) + ".example.com", "/api", "GET", "wild-api"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := snap.Lookup([]byte(tc.host), []byte(tc.path), []byte(tc.method))
			got := ""
			if ok {
				got = r.Name
			}
			if got != tc.want {
				t.Errorf("Lookup(%q, %q, %q) = %q, want %q", tc.host, tc.path, tc.method, got, tc.want)
			}
			if ref := refLookup(lookupRoutes(), tc.host, tc.path, tc.method); ref != tc.want {
				t.Errorf("refLookup(%q, %q, %q) = %q, want %q (the reference is wrong)", tc.host, tc.path, tc.method, ref, tc.want)
			}
		})
	}
	t.Run("no routes", func(t *testing.T) {
		empty, err := NewTable(nil)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := empty.Snapshot().Lookup([]byte("example.com"), []byte("/"), []byte("GET")); ok {
			t.Errorf("Lookup on empty table = %v, true, want no match", r.Name)
		}
	})
}

// refLookup is the naive reference matcher: a linear scan over all routes that scores every match by
// (host tier, prefix length, method listed) and keeps the best. It shares no code with the real matcher.
func refLookup(routes []Route, host, path, method string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i >= 0 {
			host = host[:i+1]
		}
	} else if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	host = lowerASCII(strings.TrimSuffix(host, "."))
	best, bestScore := "", [3]int{-1, -1, -1}
	for _, r := range routes {
		var tier int
		rh := lowerASCII(strings.TrimSuffix(r.Host, "."))
		switch {
		case rh == "":
			tier = 0
		case strings.HasPrefix(rh, "*."):
			suffix := rh[1:] // ".example.com"
			if len(host) <= len(suffix) || !strings.HasSuffix(host, suffix) {
				continue
			}
			tier = len(suffix)
		case rh == host:
			tier = 1 << 20
		default:
			continue
		}
		// Paths are compared without regard to ASCII case.
		lp, rp := lowerASCII(path), lowerASCII(r.Path)
		if !strings.HasPrefix(lp, rp) ||
			len(lp) != len(rp) && !strings.HasSuffix(rp, "/") && lp[len(rp)] != '/' {
			continue
		}
		listed := 0
		if len(r.Methods) > 0 {
			if !slices.Contains(r.Methods, method) {
				continue
			}
			listed = 1
		}
		if score := [3]int{tier, len(r.Path), listed}; slices.Compare(score[:], bestScore[:]) > 0 {
			best, bestScore = r.Name, score
		}
	}
	return best
}

func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// parseSpec turns "host|path|M1,M2" lines into routes, for the fuzzer to vary the route set.
func parseSpec(spec string) []Route {
	var routes []Route
	for i, line := range strings.Split(spec, "\n") {
		host, rest, _ := strings.Cut(line, "|")
		path, methods, _ := strings.Cut(rest, "|")
		r := okRoute(fmt.Sprintf("r%d", i), path)
		r.Host = host
		if methods != "" {
			r.Methods = strings.Split(methods, ",")
		}
		routes = append(routes, r)
	}
	return routes
}

func FuzzLookup(f *testing.F) {
	var lines []string
	for _, r := range lookupRoutes() {
		lines = append(lines, r.Host+"|"+r.Path+"|"+strings.Join(r.Methods, ","))
	}
	spec := strings.Join(lines, "\n")
	for _, s := range [][3]string{
		{"example.com:80", "/api/v1/x", "GET"},
		{"a.b.example.com", "/api/v1", "POST"},
		{"[::1]:1", "/v6/", "GET"},
		{"", "/apix", "HEAD"},
		{"X.EXAMPLE.COM.", "/a/b/c/", "GET"},
		{"..example.com", "//", ""},
	} {
		f.Add(spec, s[0], s[1], s[2])
	}
	f.Add("|/", "", "/", "GET")
	f.Add("*.a|/x/|GET\na|/x|\n*.b.a|/|", "c.b.a", "/x/y", "GET")
	f.Fuzz(func(t *testing.T, spec, host, path, method string) {
		routes := parseSpec(spec)
		tab, err := NewTable(routes)
		if err != nil {
			return // an invalid route set is NewTable's business, tested elsewhere
		}
		want := refLookup(routes, host, path, method)
		r, ok := tab.Snapshot().Lookup([]byte(host), []byte(path), []byte(method))
		got := ""
		if ok {
			got = r.Name
		}
		if got != want {
			t.Fatalf("Lookup(%q, %q, %q) = %q, want %q (routes %q)", host, path, method, got, want, spec)
		}
	})
}

func TestLookupAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	routes, reqs := benchRoutes(1000)
	tab, err := NewTable(routes)
	if err != nil {
		t.Fatal(err)
	}
	snap := tab.Snapshot()
	reqs = append(reqs,
		request{[]byte("A.B.EXAMPLE.COM:8080"), []byte("/api/v1/x"), []byte("GET")},
		request{[]byte(strings.Repeat("x", 400) + ".svc1.example.com"), []byte("/"), []byte("GET")},
		request{[]byte("nowhere"), []byte("/nothing/here"), []byte("PATCH")},
	)
	for _, req := range reqs[:50] {
		if n := testing.AllocsPerRun(100, func() { snap.Lookup(req.host, req.path, req.method) }); n != 0 {
			t.Errorf("Lookup(%q, %q, %q) allocates %v times, want 0", req.host, req.path, req.method, n)
		}
	}
}

type request struct{ host, path, method []byte }

// benchRoutes builds n routes spread over n/10 hosts (a tenth of them wildcards) and any-host routes, and a set of
// requests that hit them (and some that fall through to shorter prefixes).
func benchRoutes(n int) ([]Route, []request) {
	routes := make([]Route, 0, n)
	var reqs []request
	hosts := max(n/10, 1)
	for i := range n {
		r := okRoute(fmt.Sprintf("route-%05d", i), "")
		h := i % hosts
		switch {
		case i%7 == 0:
			r.Host = "" // any host
		case h%10 == 1:
			r.Host = fmt.Sprintf("*.svc%d.example.com", h)
		default:
			r.Host = fmt.Sprintf("svc%d.example.com", h)
		}
		r.Path = fmt.Sprintf("/api/v%d/resource%d", i%3, i)
		if i%5 == 0 {
			r.Path += "/"
			r.Methods = []string{"GET", "HEAD"}
		}
		routes = append(routes, r)
		host := strings.TrimPrefix(r.Host, "*.")
		if strings.HasPrefix(r.Host, "*.") {
			host = "tenant." + host
		}
		reqs = append(reqs, request{
			host:   []byte(strings.ToUpper(host[:min(len(host), 3)]) + host[min(len(host), 3):] + ":8443"),
			path:   []byte(r.Path + "/items/42"),
			method: []byte("GET"),
		})
	}
	// Lay the request bytes out one after the other, as a server's read buffers would be: the benchmark should
	// measure the table's memory traffic, not cache misses on 30,000 scattered little test allocations.
	var arena []byte
	for _, req := range reqs {
		arena = append(append(append(arena, req.host...), req.path...), req.method...)
	}
	for i := range reqs {
		req := &reqs[i]
		h, p, m := len(req.host), len(req.path), len(req.method)
		req.host, req.path, req.method = arena[:h:h], arena[h:h+p:h+p], arena[h+p:h+p+m:h+p+m]
		arena = arena[h+p+m:]
	}
	return routes, reqs
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			routes, reqs := benchRoutes(n)
			tab, err := NewTable(routes)
			if err != nil {
				b.Fatal(err)
			}
			snap := tab.Snapshot()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				req := &reqs[i%len(reqs)]
				if _, ok := snap.Lookup(req.host, req.path, req.method); !ok {
					b.Fatalf("Lookup(%q, %q) found nothing", req.host, req.path)
				}
				i++
			}
		})
	}
}

// BenchmarkLookupParallel measures Lookup the way the router calls it: from many goroutines on one snapshot.
func BenchmarkLookupParallel(b *testing.B) {
	routes, reqs := benchRoutes(10000)
	tab, err := NewTable(routes)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			req := &reqs[i%len(reqs)]
			tab.Snapshot().Lookup(req.host, req.path, req.method)
			i++
		}
	})
}

// TestLookupLargeAgainstReference checks a table big enough to have wide trie nodes and many hosts against the
// reference matcher, with requests that hit routes exactly, below them, beside them and with other methods.
func TestLookupLargeAgainstReference(t *testing.T) {
	n := 1000 // 140 any-host routes under one trie node, 100 hosts
	if raceEnabled || testing.Short() {
		n = 300 // the reference scan is quadratic
	}
	routes, reqs := benchRoutes(n)
	tab, err := NewTable(routes)
	if err != nil {
		t.Fatal(err)
	}
	snap := tab.Snapshot()
	for i, req := range reqs {
		host, path := string(req.host), string(req.path)
		variants := [][3]string{
			{host, path, "GET"},
			{host, path, "POST"},
			{host, strings.TrimSuffix(path, "/items/42"), "HEAD"},
			{host, strings.TrimSuffix(path, "/items/42") + "x", "GET"},
			{"other." + host, path, "GET"},
			{"unknown.example.net", path, "GET"},
			{host, fmt.Sprintf("/api/v%d/", i%3), "GET"},
		}
		for _, v := range variants {
			want := refLookup(routes, v[0], v[1], v[2])
			r, ok := snap.Lookup([]byte(v[0]), []byte(v[1]), []byte(v[2]))
			got := ""
			if ok {
				got = r.Name
			}
			if got != want {
				t.Fatalf("Lookup(%q, %q, %q) = %q, want %q", v[0], v[1], v[2], got, want)
			}
		}
	}
}

// TestLookupCaseInsensitiveWideAndLong covers the trie's map nodes (more children
// than smallFanout) and segments longer than the stack buffer child folds into.
func TestLookupCaseInsensitiveWideAndLong(t *testing.T) {
	long := strings.Repeat("Seg", 50) // 150 bytes, over maxFoldedSeg
	routes := []Route{okRoute("root", "/"), okRoute("long", "/x/"+long)}
	for i := range 2 * smallFanout {
		routes = append(routes, okRoute(fmt.Sprintf("r%d", i), fmt.Sprintf("/Wide%d", i)),
			okRoute(fmt.Sprintf("x%d", i), fmt.Sprintf("/x/K%d", i)))
	}
	tab, err := NewTable(routes)
	if err != nil {
		t.Fatal(err)
	}
	snap := tab.Snapshot()
	tests := []struct{ path, want string }{
		{"/wide3", "r3"},
		{"/WIDE3/x", "r3"},
		{"/Wide15", "r15"},
		{"/wide16", "root"},
		{"/X/" + strings.ToUpper(long) + "/y", "long"},
		{"/x/" + strings.ToLower(long), "long"},
		{"/x/" + long + "s", "root"},
		{"/X/k9", "x9"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r, ok := snap.Lookup(nil, []byte(tc.path), []byte("GET"))
			if !ok || r.Name != tc.want {
				t.Errorf("Lookup(%q) = %v, %v, want %q", tc.path, r, ok, tc.want)
			}
		})
	}
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(100, func() { snap.Lookup(nil, []byte("/WIDE7/a"), []byte("GET")) }); n != 0 {
		t.Errorf("Lookup of an upper-case path in a wide node: %v allocs, want 0", n)
	}
}
