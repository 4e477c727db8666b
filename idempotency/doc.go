// Package idempotency makes unsafe requests safe to retry: a POST, PUT or
// PATCH carrying an Idempotency-Key header runs once; its response is kept
// for a TTL and replayed to duplicates, so a payment delivered twice charges
// the customer once.
//
// Handler.Handle is the fasthttp-facing side: it validates the header,
// fingerprints the request (method, URI, body), claims the key in a Store,
// runs the rest of the pipeline (a Next) for a new key, and replays, waits,
// or refuses (409, 422) for a known one. Store is the seam for where keys
// live: MemoryStore is the bounded in-process default, and a store shared by
// several edged instances implements the same three calls (Begin, Complete,
// Abort).
//
// The replay path allocates nothing: Next is an interface a caller satisfies
// with a value it already has (the router's pooled per-request exchange),
// store keys are lent as bytes from a pooled buffer, and the fingerprint's
// hash state is pooled too. A first execution allocates what must outlive the
// request: the stored key and entry and one copy of the response.
package idempotency
