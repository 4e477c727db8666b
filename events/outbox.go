//go:build !noevents

package events

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Batching of what a trigger sends once an event is done. Every ack, and
// every completion record, is a message of its own to JetStream; sent as
// each handler finishes, each took a write of its own (nats.go flushes as
// soon as its flusher runs, which is at once) and a read of its own on the
// server: that was a sixth of a trigger's CPU on a busy queue, and most of
// why the server spent about twice as much on a trigger's event as on a bare
// consumer's (docs/events.md, "Performance"). The outbox sends them together.
const (
	// outboxDelay is how long the first event of a batch waits for others.
	// It delays only the ack of an event already done: no invocation waits
	// for it, and the ack timeout is seconds.
	outboxDelay = time.Millisecond
	// outboxBatch is the most events a batch takes; when as many wait, the
	// batch goes without waiting out outboxDelay.
	outboxBatch = 128
)

// doneEvent is an event whose function completed, on its way to the outbox.
type doneEvent struct {
	msg jetstream.Msg
	// key and record are the completion record to store before the ack;
	// record is nil with dedup = "window".
	key    string
	record []byte
}

// outbox sends the records and acks of completed events in batches: first
// the records of a batch, then, once JetStream has stored them, the acks,
// in the order the events completed. An event whose record could not be
// stored is acked anyway: its work is done, and only a lost ack could
// repeat it. It returns when sub.done is closed and drained.
func (sub *Subscription) outbox() {
	defer sub.outboxDone.Done()
	batch := make([]doneEvent, 0, outboxBatch)
	stored := make([]jetstream.PubAckFuture, 0, outboxBatch)
	for {
		first, ok := <-sub.done
		if !ok {
			return
		}
		if len(sub.done) < outboxBatch-1 {
			// Sleep out the delay rather than wake for each event that
			// completes meanwhile: a wakeup per event was a switch between
			// goroutines per event.
			time.Sleep(outboxDelay)
		}
		batch = append(batch[:0], first)
		open := true
	drain:
		for len(batch) < outboxBatch {
			select {
			case d, ok := <-sub.done:
				if !ok {
					open = false
					break drain
				}
				batch = append(batch, d)
			default:
				break drain
			}
		}
		stored = sub.send(batch, stored[:0])
		clear(batch) // the messages are acked: do not keep them alive
		if !open {
			return
		}
	}
}

// send stores the batch's records, waits for them, then acks the batch.
// Each loop publishes without blocking, so the messages leave in one write.
func (sub *Subscription) send(batch []doneEvent, stored []jetstream.PubAckFuture) []jetstream.PubAckFuture {
	for _, d := range batch {
		if d.record == nil {
			continue
		}
		m := nats.NewMsg(doneSubjectPrefix + d.key)
		m.Data = d.record
		f, err := sub.s.js.PublishMsgAsync(m)
		if err != nil {
			// Too many publishes in flight on the connection: store this
			// one synchronously.
			ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
			if _, err = sub.s.done.Put(ctx, d.key, d.record); err != nil {
				sub.log.Warn("events: record completion", "key", d.key, "error", err)
			}
			cancel()
			continue
		}
		stored = append(stored, f)
	}
	for _, f := range stored {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			sub.log.Warn("events: record completion", "error", err)
		}
	}
	for _, d := range batch {
		sub.finish(d.msg)
		sub.held.remove(d.msg)
	}
	clear(stored)
	return stored
}
