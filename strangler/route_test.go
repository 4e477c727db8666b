package strangler

import (
	"errors"
	"strings"
	"testing"
)

// okRoute returns a valid legacy route for tests to modify.
func okRoute(name, path string) Route {
	return Route{Name: name, Path: path, Upstream: "mono", Function: "fn", Step: -1}
}

func TestValidateRoute(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(r *Route)
		wantField string // "" = valid
	}{
		{"valid", func(r *Route) {}, ""},
		{"valid wildcard host", func(r *Route) { r.Host = "*.Example.COM" }, ""},
		{"valid host trailing dot", func(r *Route) { r.Host = "example.com." }, ""},
		{"valid ipv6 host", func(r *Route) { r.Host = "[::1]" }, ""},
		{"valid retired without upstream", func(r *Route) { r.Stage, r.Upstream = StageRetired, "" }, ""},
		{"valid legacy without function", func(r *Route) { r.Function = "" }, ""},
		{"valid sticky header", func(r *Route) { r.Sticky = "header:X-User" }, ""},
		{"valid sticky cookie", func(r *Route) { r.Sticky = "cookie:sid" }, ""},
		{"valid sticky ip", func(r *Route) { r.Sticky = "ip" }, ""},
		{"valid methods", func(r *Route) { r.Methods = []string{"GET", "POST"} }, ""},
		{"valid slash path", func(r *Route) { r.Path = "/api/" }, ""},
		{"empty name", func(r *Route) { r.Name = "" }, "name"},
		{"name with slash", func(r *Route) { r.Name = "a/b" }, "name"},
		{"long name", func(r *Route) { r.Name = strings.Repeat("a", 129) }, "name"},
		{"host with port", func(r *Route) { r.Host = "example.com:80" }, "host"},
		{"host with bad char", func(r *Route) { r.Host = "exa mple.com" }, "host"},
		{"host wildcard in middle", func(r *Route) { r.Host = "a.*.com" }, "host"},
		{"host bare wildcard", func(r *Route) { r.Host = "*" }, "host"},
		{"host empty label", func(r *Route) { r.Host = "a..com" }, "host"},
		{"host kelvin sign", func(r *Route) { r.Host = "\u212Aexample.com" }, "host"},
		{"host too long", func(r *Route) { r.Host = strings.Repeat("a.", 127) + "com" }, "host"},
		{"path empty", func(r *Route) { r.Path = "" }, "path"},
		{"path relative", func(r *Route) { r.Path = "api" }, "path"},
		{"path double slash", func(r *Route) { r.Path = "/a//b" }, "path"},
		{"path dotdot", func(r *Route) { r.Path = "/a/../b" }, "path"},
		{"path dot", func(r *Route) { r.Path = "/a/." }, "path"},
		{"path query", func(r *Route) { r.Path = "/a?b" }, "path"},
		{"path space", func(r *Route) { r.Path = "/a b" }, "path"},
		// Request paths are matched with these normalised away, so such a route could never match.
		{"path parameter", func(r *Route) { r.Path = "/a;b" }, "path"},
		{"path backslash", func(r *Route) { r.Path = "/a\\b" }, "path"},
		{"path encoded slash", func(r *Route) { r.Path = "/a%2fb" }, "path"},
		{"path encoded backslash", func(r *Route) { r.Path = "/a%5Cb" }, "path"},
		{"path encoded unreserved", func(r *Route) { r.Path = "/%7Euser" }, "path"},
		{"path malformed escape", func(r *Route) { r.Path = "/a%zz" }, "path"},
		{"path short escape", func(r *Route) { r.Path = "/a%2" }, "path"},
		{"valid path escape", func(r *Route) { r.Path = "/caf%C3%A9/a%20b" }, ""},
		{"lower-case method", func(r *Route) { r.Methods = []string{"get"} }, "methods"},
		{"empty method", func(r *Route) { r.Methods = []string{""} }, "methods"},
		{"duplicate method", func(r *Route) { r.Methods = []string{"GET", "GET"} }, "methods"},
		{"bad stage", func(r *Route) { r.Stage = 7 }, "stage"},
		{"no upstream", func(r *Route) { r.Upstream = "" }, "upstream"},
		{"shadow without function", func(r *Route) { r.Stage, r.Function = StageShadow, "" }, "function"},
		{"weight negative", func(r *Route) { r.Weight = -1 }, "weight"},
		{"weight over 100", func(r *Route) { r.Weight = 101 }, "weight"},
		{"sticky unknown", func(r *Route) { r.Sticky = "query:x" }, "sticky"},
		{"sticky empty name", func(r *Route) { r.Sticky = "header:" }, "sticky"},
		{"step below -1", func(r *Route) { r.Step = -2 }, "step"},
		{"valid enqueue", func(r *Route) { r.Upstream, r.Function, r.Enqueue = "", "", "orders.new" }, ""},
		{"enqueue with upstream", func(r *Route) { r.Function, r.Enqueue = "", "orders" }, "enqueue"},
		{"enqueue with function", func(r *Route) { r.Upstream, r.Enqueue = "", "orders" }, "enqueue"},
		{"enqueue not legacy", func(r *Route) {
			r.Upstream, r.Function, r.Enqueue, r.Stage = "", "", "orders", StageIsolate
		}, "stage"},
		{"enqueue with space", func(r *Route) { r.Upstream, r.Function, r.Enqueue = "", "", "a b" }, "enqueue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := okRoute("r", "/api")
			tc.edit(&r)
			_, err := NewTable([]Route{r})
			if tc.wantField == "" {
				if err != nil {
					t.Errorf("NewTable(%+v) = %v, want nil", r, err)
				}
				return
			}
			var re *RouteError
			if !errors.As(err, &re) || re.Field != tc.wantField || !errors.Is(err, ErrInvalidRoute) {
				t.Errorf("NewTable(%+v) = %v, want a RouteError on field %q", r, err, tc.wantField)
			}
		})
	}
}

// TestNewTableListsEveryProblem checks that validation does not stop at the first error.
func TestNewTableListsEveryProblem(t *testing.T) {
	routes := []Route{
		okRoute("a", "/a"),
		okRoute("a", "/b"), // duplicate name
		{Name: "bad", Path: "x", Weight: 200, Stage: StageCanary, Step: -1}, // path, upstream, function, weight
		okRoute("c", "/a"), // same match as a
		func() Route { r := okRoute("d", "/m"); r.Methods = []string{"GET"}; return r }(),
		func() Route { r := okRoute("e", "/m"); r.Methods = []string{"POST", "GET"}; return r }(), // overlaps d on GET
		func() Route { r := okRoute("f", "/m"); r.Methods = []string{"PUT"}; return r }(),         // fine
		func() Route { r := okRoute("g", "/a"); r.Host = "x.com"; return r }(),                    // fine: other host
		okRoute("h", "/A"), // same match as a: paths are compared without regard to case
	}
	_, err := NewTable(routes)
	if err == nil {
		t.Fatal("NewTable(bad routes) = nil, want errors")
	}
	want := []string{
		`routes[1] (a): name: duplicate of routes[0]`,
		`routes[2] (bad): path: "x": must start with "/"`,
		`routes[2] (bad): upstream: required unless stage is retired`,
		`routes[2] (bad): function: required unless stage is legacy`,
		`routes[2] (bad): weight: 200: must be between 0 and 100`,
		`routes[3] (c): path: same host, path and method (any) as routes[0] (a)`,
		`routes[5] (e): path: same host, path and method GET as routes[4] (d)`,
		`routes[8] (h): path: same host, path and method (any) as routes[0] (a)`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("NewTable(bad routes) error lacks %q; got:\n%s", w, msg)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n != len(want) {
		t.Errorf("NewTable(bad routes) gave %d errors, want %d:\n%s", n, len(want), msg)
	}
}

func TestParseSticky(t *testing.T) {
	tests := []struct {
		in       string
		wantKind StickyKind
		wantName string
		wantErr  bool
	}{
		{"", StickyIP, "", false},
		{"ip", StickyIP, "", false},
		{"header:X-User", StickyHeader, "X-User", false},
		{"cookie:sid", StickyCookie, "sid", false},
		{"cookie:", 0, "", true},
		{"header:a b", 0, "", true},
		{"IP", 0, "", true},
		{"query:x", 0, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			kind, name, err := ParseSticky(tc.in)
			if (err != nil) != tc.wantErr || kind != tc.wantKind || name != tc.wantName {
				t.Errorf("ParseSticky(%q) = %v, %q, %v, want %v, %q, error %v", tc.in, kind, name, err, tc.wantKind, tc.wantName, tc.wantErr)
			}
		})
	}
}

func FuzzParseSticky(f *testing.F) {
	for _, s := range []string{"", "ip", "header:X-User", "cookie:sid", "cookie:", "x:y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, name, err := ParseSticky(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRoute) {
				t.Fatalf("ParseSticky(%q) error = %v, want ErrInvalidRoute", s, err)
			}
			return
		}
		var back string
		switch kind {
		case StickyIP:
			back = "ip"
		case StickyHeader:
			back = "header:" + name
		case StickyCookie:
			back = "cookie:" + name
		}
		if s != "" && back != s {
			t.Fatalf("ParseSticky(%q) = %v, %q: does not round-trip (%q)", s, kind, name, back)
		}
	})
}

// TestEnqueueRouteNeverMigrates: an enqueue route has no function to migrate
// to, so promoting it is refused and it stays legacy.
func TestEnqueueRouteNeverMigrates(t *testing.T) {
	r := Route{Name: "in", Path: "/in", Enqueue: "orders", Step: -1}
	tab, err := NewTable([]Route{r})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Promote("in", nil, Action{Actor: "admin"}); err == nil {
		t.Error("Promote of an enqueue route = nil, want an error")
	}
	if got := tab.Routes()[0]; got.Stage != StageLegacy || got.Enqueue != "orders" {
		t.Errorf("route after Promote = %+v, want legacy with its subject", got)
	}
}
