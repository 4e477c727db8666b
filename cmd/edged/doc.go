// Command edged is the edge daemon and its command-line client.
//
// edged sits in front of a legacy HTTP application (the "monolith") and moves its
// features, one route at a time, into WebAssembly functions run in isolates:
// legacy -> shadow -> canary -> isolate -> retired. See README.md for the quick start
// and docs/cli.md for every command.
//
// Usage:
//
//	edged serve    -config router.toml [-log-level info] [-log-format text|json]
//	edged dev      [-config router.toml]    quick start: also runs the example monolith
//	edged validate -config router.toml      exit 0 and "ok", or 1 and every problem
//	edged status   [-admin URL] [-token-file FILE] [-config router.toml]
//	edged promote|rollback|pause|resume ROUTE [-reason TEXT] [admin flags]
//	edged weight ROUTE N [-reason TEXT] [admin flags]
//	edged cost [admin flags]
//	edged reload [admin flags]
//	edged events [admin flags]
//	edged dlq list TRIGGER | redrive TRIGGER (-id ID | -all) [admin flags]
//	edged publish SUBJECT [-type T] [-data TEXT|@FILE|@-] [admin flags]
//	edged version
//
// serve loads the configuration, builds every function and upstream off to the side,
// then serves the public listener (fasthttp) and the admin API (its own loopback
// listener, bearer token from [admin] token_file). SIGHUP or POST /v1/reload reloads
// the file: an invalid file, or one whose functions fail to load, is logged and the
// running configuration stays; a valid one is swapped in at once. A route whose
// definition (path, host, methods, upstream, function, migration) and whose stage and
// weight in the file did not change keeps the stage, weight, step and pause it has at
// run time, so a reload never undoes a promotion; the previous functions and
// upstreams are closed after a grace period. SIGTERM or SIGINT turns /readyz to 503
// and keeps serving for [server] drain_delay (skipped by dev), then stops accepting,
// drains in-flight requests for [server] shutdown_timeout and exits 0. The daemon
// itself is package internal/daemon; this command parses flags and prints.
//
// Once both listeners are up, serve prints one line per listener to standard output,
// "edged: serving http://ADDR" and "edged: admin http://ADDR", with the resolved
// addresses (so "127.0.0.1:0" in the file works for tests). Logs go to standard error.
//
// The client commands (status, promote, ...) talk to the admin API. Its address and
// token file come from -admin and -token-file, else from the [admin] table of -config,
// else from ./router.toml when it exists, else http://127.0.0.1:9901.
package main
