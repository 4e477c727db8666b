// Package limits holds the per-function limits of edged and the primitives
// that enforce them. It imports only the standard library, so every other
// package of edged can depend on it.
//
// # Policy and configuration values
//
// A Policy gathers the limits of one function: the wall-clock Timeout of an
// invocation, the linear Memory cap (in 64KiB wasm pages, see
// Policy.MemoryPages), request, response and log size caps, and the Egress
// policy. Every zero field means "the safe default" (Policy.WithDefaults), so
// a function with no limits configured is still fully limited. Validate
// reports every problem at once, each prefixed with its router.toml key.
//
// Sizes and durations are written as strings in router.toml: Size parses
// "64KiB" or "16MB" (ParseSize), Duration parses "250ms" (ParseDuration);
// both implement encoding.TextUnmarshaler so TOML strings decode into them.
//
// # Egress
//
// Outbound requests are denied unless a Pattern of Egress.Allow matches the
// URL ("https://api.example.com", "https://*.example.com:8443",
// "http://127.0.0.1:9000"). Matching the URL is not enough: a public name may
// resolve to a private address. CheckAddr refuses loopback, private,
// link-local (including the cloud metadata address 169.254.169.254), CGNAT,
// multicast and similar addresses unless the matched pattern names that exact
// IP literal. Client applies both checks where it cannot be bypassed: names
// are resolved in its dialer, every answer is checked, and the connection
// goes to the checked address, so there is no second lookup to rebind. Each
// redirect is checked again and counted against the invocation's Budget of
// subrequests; each subrequest has a timeout and a response body cap.
//
// # Execution
//
// Concurrency bounds how many guests run at once (about the core count) so
// that deadlines measure the guest's own work rather than time spent waiting
// for a CPU. CappedBuffer collects a guest's stdout, stderr and log output up
// to MaxLogBytes without ever failing the guest's writes.
//
// # Rate limiting
//
// Limiter is a token bucket per client key (an API key, a token's subject or
// a client address, chosen by the caller) at a Rate such as "100/s" with a
// burst. Its memory is bounded by MaxKeys whatever the clients send: keys are
// hashed, and when the table is full, buckets that would be full anyway go
// first, then the least recently used. A refusal says how long until a token
// is available, for a Retry-After header.
//
// # Errors
//
// Breaches are reported with sentinel errors for errors.Is: ErrEgressDenied
// (and its refinement ErrPrivateAddress), ErrSubrequestBudget and
// ErrBodyTooLarge.
package limits
