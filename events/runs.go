//go:build !noevents

package events

import (
	"context"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// runsBucket keeps, per trigger and event, how many times the function has
// run for it, for the events redelivered after a failure or a crash: a
// trigger counts attempts from it rather than from JetStream's delivery
// count, which also counts the deliveries of events fetched ahead of a free
// invocation slot and never run. Its own bucket, so that the records of
// edged_events stay one per finished event.
const runsBucket = "edged_runs"

// errNoVerdict is the last error of an event dead-lettered because its runs
// were used up without a verdict.
var errNoVerdict = errors.New("no verdict: the runs ended without an answer (the daemon stopped during them)")

// openRuns creates or adopts the runs bucket; its entries expire like the
// completion records.
func (s *Server) openRuns(ctx context.Context) (jetstream.KeyValue, error) {
	return s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      runsBucket,
		Description: "edged: runs of the events being retried, per trigger",
		TTL:         s.opts.CompletionTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    s.opts.Replicas,
	})
}

// runs returns the runs recorded for the event under key; none when there
// is no record or it cannot be read (then a crash loop costs a run more, it
// is not dropped).
func (sub *Subscription) runs(ctx context.Context, key string) int {
	e, err := sub.runsKV.Get(ctx, key)
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			sub.log.Warn("events: read runs", "key", key, "error", err)
		}
		return 0
	}
	n, err := strconv.Atoi(string(e.Value()))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// recordRun stores that the event under key has run n times, and reports
// whether it was stored.
func (sub *Subscription) recordRun(ctx context.Context, key string, n int) bool {
	if _, err := sub.runsKV.Put(ctx, key, []byte(strconv.Itoa(n))); err != nil {
		sub.log.Warn("events: record run", "key", key, "error", err)
		return false
	}
	return true
}
