// Package daemon is edged's composition root: it turns the configuration file
// into a running daemon and keeps it applied across reloads.
//
// What lives as long as the process (the isolate runtime, the routing table with
// its saved migration progress, the router's Server, the migration controller,
// the state writer, the admin API and both listeners) is set up once by New, each
// step pushing its cleanup on one stack; a New that fails, and the end of Serve,
// run that stack in reverse.
//
// What the file describes is one generation: the World (functions, upstreams,
// route options, tracing), the routes, the migration plans and the
// Authenticator. Start and reload build it by the same path, caddy-style:
// provision, validate, install, cleanup. Installing is one atomic swap
// (router.Server.Install publishes the routes and the World in one table
// snapshot), so a request sees the old configuration or the new one, never a new
// route against the old World. A replaced generation is cleaned up after a grace
// period; a generation that failed to provision is cleaned up at once and the
// running one stays.
//
// cmd/edged parses flags and prints; it calls Run (or New and Serve) and
// Validate.
package daemon
