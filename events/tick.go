//go:build !noevents

package events

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// tickState is the value of a schedule's key in the ticks bucket.
type tickState struct {
	// Last is the last tick fired, or the time the schedule was first seen.
	Last time.Time `json:"last"`
}

// TickType is the CloudEvents type of schedule ticks. Their id is the tick
// time (RFC 3339, UTC), their source Options.Source + "/schedule/" + name,
// their data {"trigger": name, "tick": time}.
const TickType = "dev.edged.schedule.tick"

// tick publishes the schedule's ticks. Every node running the trigger does
// this; the tick message id (source + tick time) dedupes their publishes and
// the compare-and-swap on the ticks bucket keeps one record of the last tick,
// so each tick is delivered once. A tick missed while no node ran is fired
// once at start (only the latest missed one).
func (sub *Subscription) tick(ctx context.Context) {
	defer sub.loops.Done()
	now, after := sub.s.opts.Now, sub.s.opts.after
	last, rev, ok := sub.loadTick(ctx)
	if !ok {
		return
	}
	for {
		t := now()
		next := sub.sched.Next(last)
		if next.IsZero() {
			return // "0 0 30 2 *": never
		}
		if next.After(t) {
			select {
			case <-after(next.Sub(t)):
				continue
			case <-sub.stop:
				return
			}
		}
		due := sub.sched.latest(last, t)
		if err := sub.fire(ctx, due); err != nil {
			sub.log.Warn("events: fire tick", "tick", due, "error", err)
			select {
			case <-after(time.Second):
				continue
			case <-sub.stop:
				return
			}
		}
		last, rev = sub.storeTick(ctx, due, rev)
	}
}

// loadTick reads the last fired tick, creating the record (now) on first
// start so that a tick missed before the next start is caught up.
func (sub *Subscription) loadTick(ctx context.Context) (time.Time, uint64, bool) {
	kv, key := sub.s.ticks, sub.t.Name
	for {
		e, err := kv.Get(ctx, key)
		if err == nil {
			var st tickState
			if json.Unmarshal(e.Value(), &st) == nil {
				return st.Last, e.Revision(), true
			}
			sub.log.Warn("events: unreadable tick record; starting from now", "value", clip(string(e.Value())))
			st.Last = sub.s.opts.Now().UTC()
			b, _ := json.Marshal(st)
			if rev, err := kv.Update(ctx, key, b, e.Revision()); err == nil {
				return st.Last, rev, true
			}
			continue
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			sub.log.Error("events: read tick record", "error", err)
			select {
			case <-sub.s.opts.after(time.Second):
				continue
			case <-sub.stop:
				return time.Time{}, 0, false
			}
		}
		st := tickState{Last: sub.s.opts.Now().UTC()}
		b, _ := json.Marshal(st)
		rev, err := kv.Create(ctx, key, b)
		if err == nil {
			return st.Last, rev, true
		}
		// Another node created it first: read theirs.
	}
}

// storeTick records tick as the last fired with compare-and-swap; if
// another node moved it further, its value wins.
func (sub *Subscription) storeTick(ctx context.Context, tick time.Time, rev uint64) (time.Time, uint64) {
	kv, key := sub.s.ticks, sub.t.Name
	b, _ := json.Marshal(tickState{Last: tick})
	if n, err := kv.Update(ctx, key, b, rev); err == nil {
		return tick, n
	}
	last, n, ok := sub.loadTick(ctx)
	if !ok || last.Before(tick) {
		// Lost the race to an older value or could not read: keep our tick
		// in memory; the next successful swap records it.
		return tick, n
	}
	return last, n
}

func (sub *Subscription) fire(ctx context.Context, tick time.Time) error {
	tick = tick.UTC()
	data, _ := json.Marshal(struct {
		Trigger string    `json:"trigger"`
		Tick    time.Time `json:"tick"`
	}{sub.t.Name, tick})
	return sub.s.PublishEvent(ctx, sub.t.Subject, &Event{
		ID:          tick.Format(time.RFC3339Nano),
		Source:      sub.s.opts.Source + "/schedule/" + sub.t.Name,
		Type:        TickType,
		Time:        tick,
		ContentType: "application/json",
		Data:        data,
	})
}
