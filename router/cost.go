package router

import (
	"github.com/edged/edged/cost"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/strangler"
)

// RouteUsage returns the named route's usage as the router measured it (each
// route's cost.Meter records the invocations made on its behalf), and false
// when the route has not been served yet. Safe for concurrent use with the
// request path.
func (s *Server) RouteUsage(name string) (cost.RouteUsage, bool) {
	rs, ok := (*s.states.Load())[name]
	if !ok {
		return cost.RouteUsage{}, false
	}
	return rs.cost.Usage(s.mono()), true
}

// CostReport prices, with p, the usage of the current World's functions and
// that of table's routes (nil: no routes) as the router measured it.
func (s *Server) CostReport(p cost.Pricing, table *strangler.Table) cost.Report {
	ws := s.world.Load()
	functions := make(map[string]isolate.Usage)
	if ws != nil {
		for name, f := range ws.w.Functions {
			if f != nil {
				functions[name] = f.Usage()
			}
		}
	}
	var routes []strangler.Route
	byRoute := make(map[string]cost.RouteUsage)
	if table != nil {
		routes = table.Routes()
		for _, r := range routes {
			if u, ok := s.RouteUsage(r.Name); ok {
				byRoute[r.Name] = u
			}
		}
	}
	return cost.Compute(p, functions, routes, byRoute)
}

// Pricing returns the prices of the current World (World.Pricing), or false
// when it has none.
func (s *Server) Pricing() (cost.Pricing, bool) {
	if ws := s.world.Load(); ws != nil && ws.w.Pricing != nil {
		return *ws.w.Pricing, true
	}
	return cost.Pricing{}, false
}
