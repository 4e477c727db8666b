// Package replay runs a recorded corpus (package corpus) against a new build
// of a route's function and compares every answer with legacy's recorded
// answer under the route's shadow rules: status, the compared headers, and
// the body, JSON-aware, with the ignore paths and the learnt noise (package
// shadow), as the shadow stage does. It is what `edged replay` runs in CI,
// before the build sees a user (docs/record-replay.md).
//
// A Target gives the new answer to a recorded request. Module runs a loaded
// isolate.Function in-process under its limits, with every fetch answered
// from the recording (deterministic, no network; an unrecorded fetch fails as
// a network error would) and a "next" answered with legacy's recorded answer.
// HTTP sends the request to a live deployment instead.
//
// Run reads the corpus, reports corrupt lines and goes on, and returns a
// Summary: counts per route and the mismatches with their first difference.
package replay
