// Package events runs event-driven functions on NATS JetStream: queue
// triggers, schedules, dead letters and the publish API edged builds its
// `[events]`, `[[triggers]]`, `enqueue` routes and guest `publish` on.
//
// # Engine
//
// Open starts an embedded nats-server in-process (JetStream file storage
// under Options.StoreDir, connected through nats.InProcessServer, no port
// opened unless Options.Listen is set), or connects to Options.URL with the
// same client code; NewWithConn takes the caller's own *nats.Conn. The
// embedded server fsyncs every write by default (Sync "always"): JetStream's
// own default fsyncs on an interval and can lose acknowledged events on
// power loss.
//
// With Options.Cluster, the embedded servers of a few nodes route to each
// other and form one NATS cluster; every stream and bucket edged creates is
// kept in Options.Replicas copies (3 once there are 3 members), and Open
// waits, up to Options.ReadyTimeout, for the cluster to elect its leader.
//
// Everything JetStream provides is used rather than rewritten: streams and
// durable pull consumers, explicit acks, NakWithDelay for retry backoff,
// AckWait with InProgress for long work, the Nats-Msg-Id duplicate window
// and key-value buckets with TTL and compare-and-swap.
//
// # Delivery
//
// Server.Subscribe runs a Trigger: a durable consumer (named after the
// trigger) on the stream capturing its subject, created with interest
// retention when none exists. Each event is handed to an Invoker as a
// CloudEvents binary-mode HTTP request (ce-id, ce-source, ce-type, ce-time,
// ce-subject, ce-specversion headers, body = data, traceparent carried). The
// verdict:
//
//   - 2xx: done. A completion record (trigger + hash of ce-source and ce-id)
//     is written to the edged_events bucket before the ack, so an event whose
//     ack was lost is not processed again when redelivered.
//   - 422 (StatusDeadLetter) or an Edged-Dead-Letter header: dead-lettered now.
//   - anything else, or an error (trap, timeout, limit): retried after
//     Backoff doubling up to MaxBackoff, with jitter, MaxRetries times, then
//     dead-lettered.
//
// A dead letter is the original message on the trigger's DeadLetter subject
// with its history in Edged-* headers (reason, attempts, last status, last
// error, trace id); the original is acknowledged only after JetStream has
// stored the dead letter. Events that are not valid CloudEvents or exceed
// MaxBodyBytes are dead-lettered with the reason; the trigger keeps going.
// Subscription.DeadLetters lists them and Redrive publishes them again.
//
// # Exactly once in effect
//
// Delivery is at least once. Publish sets the NATS message id to ce-source +
// " " + ce-id, so a publish repeated within the stream's duplicate window (2
// minutes by default) is stored once; the completion record covers
// redeliveries for Options.CompletionTTL (24 hours by default).
//
// # Schedules
//
// A Trigger with a Schedule (cron or @every, see ParseSchedule; UTC)
// publishes one tick per due time on edged.schedule.<name>, delivered like
// any event. Ticks carry the message id source + tick time and the last tick
// is kept in the edged_ticks bucket with compare-and-swap, so several nodes
// or a restart fire each tick once; the latest tick missed while no node ran
// is fired once at start.
package events
