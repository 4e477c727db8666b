// Package kvstore keeps idempotency keys in a NATS JetStream key-value bucket,
// so that every edged node of a fleet shares one memory of them: a duplicate
// Idempotency-Key that lands on any node replays the stored answer, and a
// duplicate of a request still running on another node waits for it (or gets
// 409, as the idempotency.Handler is configured). Store implements
// idempotency.Store; the Handler, its validation, fingerprinting and answers
// are unchanged.
//
// # How a key is kept
//
// A key (route, client and header value, untrusted bytes of any length) is
// hashed to the hex of its SHA-256, a valid KV key of fixed size. Its value is
// one small binary record (see record.go), bounded by MaxResponseBytes and by
// the NATS connection's max payload:
//
//   - Begin writes a claim (fingerprint, node, deadline) as KeyValue.Create
//     does (a write that expects the key to have no record) with a per-key
//     TTL of ClaimTTL. It succeeds for one request in the whole fleet; the
//     others read the record: a completed response is replayed (after the
//     fingerprint check, else 422), a claim means in flight. A waiter watches the key (a KV watch, which starts with the
//     current record, so no change is missed) until the claim is replaced,
//     purged or expires. Duplicates of a request this node itself runs are
//     answered from memory, without a round trip.
//   - While the request runs, the holder renews its claim every ClaimTTL/3,
//     each renewal a compare-and-swap on the claim's revision.
//   - Complete replaces the claim by the response with a compare-and-swap on
//     the claim's revision (the same write as KeyValue.Update, plus a
//     per-message TTL: the response expires TTL after completion).
//   - Abort purges the claim if its revision still matches, leaving a marker
//     that expires after a minute; waiters wake and one of them runs.
//
// Every record carries a TTL, so the bucket holds no garbage: a node that dies
// holding a claim blocks the key for ClaimTTL at most, after which JetStream
// removes the claim, writes an expiry marker that wakes the waiters, and a
// retry runs. Expiry is judged by the NATS server that stores the bucket (its
// clock only), not by comparing the clocks of nodes; the deadline in a claim
// is for people reading the bucket.
//
// The bucket is bounded by MaxBucketBytes. Unlike MemoryStore, which evicts
// the oldest completed responses, a full bucket refuses new keys
// (idempotency.ErrStoreFull, answered 503) until entries expire: JetStream
// refuses a write rather than drop a claim, which would let a duplicate run.
// Size it for the completed responses of one TTL.
//
// # Consistency
//
// Every decision is a write to the key's subject checked by the stream
// against the subject's last sequence (Create expects none, the others the
// claim's revision), so exactly one request of the fleet holds a key at a
// time however many nodes race for it, and no node can complete or release a
// key it no longer holds. Reads (KeyValue.Get, which may be served by a
// replica) can be stale; a stale read only makes a duplicate wait or try
// again, never run.
//
// On a network partition, the side that cannot write to the bucket (no NATS,
// or a minority of a replicated bucket's servers) cannot claim keys: Begin
// fails (at once while the connection is down, after JetStream's request
// timeout when a minority cannot commit) and the Handler answers 503 with
// Retry-After, so keyed requests are refused rather than run unguarded;
// requests without a key are served as usual. The side that can write carries on. Exactly-once then has one
// window, inherent to an expiring claim: a holder cut off from NATS for
// longer than ClaimTTL while its request runs (or after it ran, before
// Complete reached the bucket) loses its claim, and a retry on the other side
// runs the request again. Its late Complete fails ("claim lost") and does not
// overwrite the retry's answer. Choose ClaimTTL longer than the route's
// longest request plus the outages to ride out, and shorter than the time a
// client should wait for a dead node's keys to free.
//
// With one NATS server (the embedded server of one node, Replicas 1), the
// fleet's keyed requests depend on that server; three servers and Replicas 3
// keep the bucket writable while any two are up.
package kvstore
