//go:build !noevents

package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	defer sub.fast.close()
	batch := make([]doneEvent, 0, outboxBatch)
	stored := make([]jetstream.PubAckFuture, 0, outboxBatch)
	for {
		var open bool
		batch, open = nextBatch(sub.done, batch[:0])
		if len(batch) > 0 {
			stored = sub.send(batch, stored[:0])
			clear(batch) // the messages are acked: do not keep them alive
		}
		if !open {
			return
		}
	}
}

// nextBatch waits for an event on ch, waits out outboxDelay for others
// unless a whole batch is already there, and appends up to outboxBatch of
// them to batch. open is false once ch is closed; batch then holds what was
// left in it.
func nextBatch(ch <-chan doneEvent, batch []doneEvent) (_ []doneEvent, open bool) {
	first, ok := <-ch
	if !ok {
		return batch, false
	}
	if len(ch) < outboxBatch-1 {
		// Sleep out the delay rather than wake for each event that
		// completes meanwhile: a wakeup per event was a switch between
		// goroutines per event.
		time.Sleep(outboxDelay)
	}
	batch = append(batch, first)
	for len(batch) < outboxBatch {
		select {
		case d, ok := <-ch:
			if !ok {
				return batch, false
			}
			batch = append(batch, d)
		default:
			return batch, true
		}
	}
	return batch, true
}

// send stores the batch's records, waits for them, then acks the batch.
func (sub *Subscription) send(batch []doneEvent, stored []jetstream.PubAckFuture) []jetstream.PubAckFuture {
	stored = sub.storeRecords(batch, stored)
	for _, d := range batch {
		sub.finish(d.msg)
		sub.held.remove(d.msg)
	}
	return stored
}

// storeRecords stores the batch's records and returns once JetStream has
// answered for them: as one fast batch where the server takes them, else
// each on its own.
func (sub *Subscription) storeRecords(batch []doneEvent, stored []jetstream.PubAckFuture) []jetstream.PubAckFuture {
	if sub.s.batchRecords {
		err := sub.storeFast(batch)
		if err == nil {
			return stored
		}
		sub.log.Warn("events: record completion", "error", err)
		if !errors.Is(err, errBatchRefused) {
			// Unanswered: storing each again would wait as long again.
			return stored
		}
	}
	// Each loop publishes without blocking, so the messages leave in one write.
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
	clear(stored)
	return stored[:0]
}

// storeFast stores the batch's records as a fast batch, and sends it again
// while JetStream does not answer: no server takes it while the bucket's
// stream elects a leader after its last one died (retried after
// noResponderWait, as nats.go does for a publish), and a batch sent while
// the leader moves can go unanswered (retried after answerWait; a record
// stored twice is the same record). It gives up after publishTimeout.
func (sub *Subscription) storeFast(batch []doneEvent) error {
	deadline := time.Now().Add(publishTimeout)
	for {
		err := sub.fast.store(sub.s.nc, batch, min(answerWait, time.Until(deadline)))
		if err == nil || errors.Is(err, errBatchRefused) {
			return err
		}
		if errors.Is(err, nats.ErrNoResponders) {
			time.Sleep(noResponderWait)
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

const (
	// noResponderWait is how long storeFast waits before it sends a batch
	// nobody took again: nats.go's wait between publish attempts.
	noResponderWait = 250 * time.Millisecond
	// answerWait is how long storeFast waits for the answer to a batch
	// before it sends the batch again: far above the time a batch of
	// outboxBatch records takes to store, even fsynced one by one.
	answerWait = 10 * time.Second
)

// Fast batch publishing (nats-server 2.14 and later): the records of a
// batch go out with reply subjects that name the batch and each record's
// place in it, and JetStream answers once, when the last one is stored,
// instead of once per record. Measured with a bare consumer, a record
// stored that way costs the server and the client together about two
// fifths less CPU than a publish answered on its own (docs/events.md,
// "Fast batches of records").
const (
	fastBatchSuffix = ".$FI"
	fastBatchStart  = "0"
	fastBatchAppend = "1"
	fastBatchCommit = "2"
)

// errBatchRefused is wrapped when JetStream answered a fast batch with an
// error: the records are then stored each on its own, which is never
// refused for being a batch (the bucket's setting can be off for a moment
// while another node updates the bucket).
var errBatchRefused = errors.New("fast batch refused")

// fastBatches stores the records of one outbox's batches, one batch at a
// time, on its own subscription for JetStream's answers.
type fastBatches struct {
	inbox   string // the answers: <inbox>.<batch id>.<flow>.fail.<seq>.<op>.$FI
	token   string // unique to this outbox: the batch ids' stem
	replies *nats.Subscription
	n       uint64 // batches sent
}

// store sends the records of batch as one fast batch and waits up to wait
// for its answer. "fail" is the gap mode: the server stops at the first
// record it misses rather than store the rest, so a complete answer means
// every record was stored.
func (f *fastBatches) store(nc *nats.Conn, batch []doneEvent, wait time.Duration) error {
	total := 0
	for _, d := range batch {
		if d.record != nil {
			total++
		}
	}
	if total == 0 {
		return nil
	}
	if f.replies == nil {
		f.inbox = nc.NewInbox()
		f.token = f.inbox[strings.LastIndexByte(f.inbox, '.')+1:]
		var err error
		if f.replies, err = nc.SubscribeSync(f.inbox + ".>"); err != nil {
			f.replies = nil
			return fmt.Errorf("%w: subscribe: %w", errBatchRefused, err)
		}
	}
	f.n++
	// The server acknowledges progress every <flow> records: never, within
	// a batch of at most outboxBatch records.
	prefix := f.inbox + "." + f.token + strconv.FormatUint(f.n, 36) + "." + strconv.Itoa(outboxBatch) + ".fail."
	seq := 0
	for _, d := range batch {
		if d.record == nil {
			continue
		}
		seq++
		op := fastBatchAppend
		switch {
		case seq == total:
			op = fastBatchCommit
		case seq == 1:
			op = fastBatchStart
		}
		m := &nats.Msg{Subject: doneSubjectPrefix + d.key, Reply: prefix + strconv.Itoa(seq) + "." + op + fastBatchSuffix, Data: d.record}
		if err := nc.PublishMsg(m); err != nil {
			return fmt.Errorf("%w: %w", errBatchRefused, err)
		}
	}
	deadline := time.Now().Add(wait)
	for {
		m, err := f.replies.NextMsg(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("events: %d records: no answer from JetStream: %w", total, err)
		}
		if !strings.HasPrefix(m.Subject, prefix) {
			continue // an answer to a batch given up on
		}
		var r struct {
			Type  string `json:"type"`
			Count int    `json:"count"`
			Error *struct {
				Code        int    `json:"err_code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return fmt.Errorf("%w: unreadable answer: %w", errBatchRefused, err)
		}
		switch {
		case r.Type != "":
			continue // flow control, or a notice; the answer follows
		case r.Error != nil:
			return fmt.Errorf("%w: %s (%d)", errBatchRefused, r.Error.Description, r.Error.Code)
		case r.Count != total:
			return fmt.Errorf("%w: %d of %d records stored", errBatchRefused, r.Count, total)
		}
		return nil
	}
}

// close ends the subscription for answers.
func (f *fastBatches) close() {
	if f.replies != nil {
		_ = f.replies.Unsubscribe()
	}
}
