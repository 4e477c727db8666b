// Package admin is edged's admin API, its migrations dashboard and a typed
// client for it.
//
// API is a net/http handler for a loopback listener of its own, in front of
// a strangler.Table and the router.Server serving it: it lists routes and
// their numbers, moves them between stages (promote, rollback, pause,
// resume, weight), pages the event history, reloads the daemon, serves the
// cost report (package cost), /healthz, /readyz, Prometheus /metrics (the
// Server's, plus edged_migration_* for routes with a plan) and the
// single-page dashboard at /dashboard. Every /v1/ endpoint needs the bearer
// token, compared in constant time; errors are JSON {"error": "..."}.
//
// Client calls the API with the token and decodes its answers into the
// same types the API encodes (Route, RouteDetail, Event, cost.Report), so the
// CLI and the API cannot drift apart. An answer other than 2xx is an
// *Error carrying the status and the API's message.
//
// The package reads the router only through its exported methods
// (RouteStats, MetricsHandler, Registerer, CostReport, Pricing); the router
// never imports admin.
package admin
