// Package router is edged's front end: the fasthttp server and the request
// pipeline that sends each request to the legacy monolith, to a WebAssembly
// isolate, or to both.
//
// Per request, Server.Handler normalises the path (NormalizePath), looks the
// route up in an immutable strangler snapshot (no lock, no allocation), and
// acts on the route's stage:
//
//   - legacy: proxy.Upstream.Serve proxies to the monolith, a production reverse
//     proxy (hop-by-hop headers stripped, X-Forwarded-* set, bodies streamed,
//     502/503/504 on upstream failure; the traps of docs/proxy.md each have a test).
//   - shadow: legacy answers; a bounded background mirror runs the isolate on
//     a copy and compares status, chosen headers and bodies (JSON-aware, with
//     ignore paths). A sample of safe requests also goes to legacy twice, and
//     what differs between the two legacy answers is learned as noise
//     (Diffy's baseline); package shadow holds the comparison and the noise.
//     Mirroring never delays or fails the user's request.
//   - canary: the isolate answers a weight's share of users, chosen by a hash
//     of a sticky key, so a user does not flip as the weight rises.
//   - isolate and retired: the guest answers; a guest returning "next" sends
//     its modified request upstream and sees the response. In the isolate
//     stage a failed guest falls back to legacy when that is safe.
//
// Outcomes are counted per route and target; they feed Prometheus metrics,
// the admin API and, through Server.Sample, the migration controller
// (package strangler/migrate). A World (functions and upstreams) is swapped atomically on
// reload. Errors become status codes in one place (statusFor). With a
// Tracing, each request carries a W3C trace context (package trace) and
// sampled requests' spans go to a trace.Exporter.
//
// Package admin serves the admin API and dashboard on top of a Server
// (RouteStats, MetricsHandler, Registerer, CostReport, Pricing); the router
// never imports it.
package router
