//go:build !noevents

package events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Subscription is a running trigger: a durable consumer delivering to an
// Invoker (and, for a schedule, the ticker publishing its ticks). Create it
// with Server.Subscribe; Close stops it. Methods are safe for concurrent use.
type Subscription struct {
	s      *Server
	t      Trigger // with defaults
	inv    Invoker
	stream jetstream.Stream // the stream holding t.Subject
	dlq    jetstream.Stream // the stream holding t.DeadLetter
	cons   jetstream.Consumer
	runsKV jetstream.KeyValue // runs of events being retried
	sched  Schedule
	log    *slog.Logger

	held      held
	stop      chan struct{}
	cancel    context.CancelFunc // ends invocations once Close gives up waiting
	stopFetch context.CancelFunc // ends the pending fetch on Close
	// fetched is closed when the dispatcher has returned: its pull request
	// is withdrawn, so an event handed back now is not redelivered into it.
	fetched chan struct{}
	loops   sync.WaitGroup // dispatcher, ticker
	work    sync.WaitGroup // handlers
	workers *workers       // the goroutines of ordering keys' handlers
	runners *workers       // the goroutines of other handlers, max_concurrency at most
	// done feeds the outbox; closed once handlers are done.
	done       chan doneEvent
	outboxDone sync.WaitGroup
	fast       fastBatches // the outbox's, for completion records
	// progressStop ends the progress reporter once handlers are done: it
	// keeps reporting while Close waits for them.
	progressStop chan struct{}
	progressDone sync.WaitGroup

	// Ordering by key: the events waiting per key, in delivery order. A key
	// is present while a worker goroutine owns it.
	keysMu sync.Mutex
	keys   map[string][]jetstream.Msg

	closeOnce sync.Once
	closeErr  error
}

// Subscribe validates t, creates or adopts the streams and the durable
// consumer, and starts delivering to inv. Events published while no
// subscription ran are delivered from where the consumer left off.
func (s *Server) Subscribe(ctx context.Context, t Trigger, inv Invoker) (*Subscription, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	t = t.withDefaults()
	sub := &Subscription{
		s: s, t: t, inv: inv,
		log:     s.opts.Logger.With("trigger", t.Name),
		stop:    make(chan struct{}),
		fetched: make(chan struct{}),
		held:    held{room: make(chan struct{}, prefetch(t.MaxConcurrency))},
		keys:    map[string][]jetstream.Msg{},
		done:    make(chan doneEvent, maxAckPending),

		progressStop: make(chan struct{}),
	}
	sub.workers = newWorkers(sub.stop)
	sub.runners = newBoundedWorkers(sub.stop, t.MaxConcurrency, cap(sub.held.room))
	var err error
	if err = s.whenReady(ctx, func(ctx context.Context) (err error) {
		sub.runsKV, err = s.openRuns(ctx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("events: bucket %s: %w", runsBucket, err)
	}
	if t.Schedule != "" {
		sub.sched, _ = ParseSchedule(t.Schedule) // checked by Validate
		if sub.stream, err = s.ensureStream(ctx, schedulesStream, "edged.schedule.*", jetstream.InterestPolicy); err != nil {
			return nil, err
		}
	} else if sub.stream, err = s.ensureStream(ctx, "EDGED_"+t.Name, t.Subject, jetstream.InterestPolicy); err != nil {
		return nil, err
	}
	if sub.dlq, err = s.ensureStream(ctx, "EDGED_DLQ_"+t.Name, t.DeadLetter, jetstream.LimitsPolicy); err != nil {
		return nil, err
	}
	if r := sub.dlq.CachedInfo().Config.Retention; r != jetstream.LimitsPolicy {
		// Nobody consumes dead letters, so interest or work-queue retention
		// would delete them on arrival.
		return nil, fmt.Errorf("events: trigger %s: dead_letter %s is captured by stream %s with %s retention; dead letters need limits retention",
			t.Name, t.DeadLetter, sub.dlq.CachedInfo().Config.Name, r)
	}
	// A stream just created in a cluster may still be electing its leader.
	if err = s.whenReady(ctx, func(ctx context.Context) error {
		var err error
		sub.cons, err = sub.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       t.Name,
			Description:   "edged trigger " + t.Name,
			FilterSubject: t.Subject,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       t.AckTimeout,
			// edged counts attempts and dead-letters itself: JetStream stopping
			// redelivery at MaxDeliver would strand an event whose dead-letter
			// publish failed.
			MaxDeliver:    -1,
			MaxAckPending: maxAckPending,
			Metadata:      map[string]string{"edged_dead_letter": t.DeadLetter},
		})
		return err
	}); err != nil {
		return nil, fmt.Errorf("events: trigger %s: consumer: %w", t.Name, err)
	}
	if err := s.track(sub); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopCtx, stopFetch := context.WithCancel(runCtx)
	sub.cancel, sub.stopFetch = cancel, stopFetch
	sub.loops.Add(1)
	sub.outboxDone.Add(1)
	sub.progressDone.Add(1)
	go sub.outbox()
	go sub.reportProgress()
	go sub.dispatch(runCtx, stopCtx)
	if t.Schedule != "" {
		sub.loops.Add(1)
		go sub.tick(runCtx)
	}
	return sub, nil
}

const schedulesStream = "EDGED_SCHEDULES"

// ensureStream adopts the stream that captures subject, or creates one with
// the configured replicas. A cluster that is not ready (electing a leader,
// fewer peers up than replicas) is waited for, up to Options.ReadyTimeout.
func (s *Server) ensureStream(ctx context.Context, name, subject string, retention jetstream.RetentionPolicy) (jetstream.Stream, error) {
	var st jetstream.Stream
	err := s.whenReady(ctx, func(ctx context.Context) error {
		var err error
		st, err = s.adoptOrCreateStream(ctx, name, subject, retention)
		return err
	})
	return st, err
}

func (s *Server) adoptOrCreateStream(ctx context.Context, name, subject string, retention jetstream.RetentionPolicy) (jetstream.Stream, error) {
	found, err := s.js.StreamNameBySubject(ctx, subject)
	switch {
	case err == nil:
		st, err := s.js.Stream(ctx, found)
		if err != nil {
			return nil, fmt.Errorf("events: stream %s for %s: %w", found, subject, err)
		}
		return st, nil
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("events: stream for %s: %w", subject, err)
	}
	st, err := s.js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        name,
		Description: "created by edged",
		Subjects:    []string{subject},
		Retention:   retention,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardNew, // refuse new events when full, never drop old ones
		Replicas:    s.opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("events: create stream %s for %s: %w", name, subject, err)
	}
	return st, nil
}

// Trigger returns the trigger with its defaults filled in.
func (sub *Subscription) Trigger() Trigger { return sub.t }

// dispatch pulls events and hands them to handlers, at most MaxConcurrency
// invocations at once. It fetches only as many events as there is room for
// (prefetch): every event it holds is tracked and reported in progress, so
// none waits unseen in a client buffer while its ack timer runs. Without
// ordering by key, a second pull is sent while the first is still being
// answered (pullsInFlight), so the server is not left idle for a round trip
// between pulls; with ordering by key, pulls go one at a time, so events are
// routed in the order of the stream.
func (sub *Subscription) dispatch(ctx, stopCtx context.Context) {
	defer sub.loops.Done()
	var pulls sync.WaitGroup
	defer close(sub.fetched)
	defer pulls.Wait() // before fetched is closed: the pulls are over
	sem := make(chan struct{}, sub.t.MaxConcurrency)
	keyed := sub.t.Ordering == OrderingKey
	inFlight := make(chan struct{}, pullsInFlight)
	if keyed {
		inFlight = make(chan struct{}, 1)
	}
	room := cap(sub.held.room)
	heldBytes := cmp.Or(sub.s.opts.heldBytes, maxHeldBytes)
	for {
		// The slot first, then the room: a pull that ends gives its
		// unused room back before its slot, so the next pull asks for all
		// of it rather than for what was given back by the time the
		// first token was.
		select {
		case inFlight <- struct{}{}:
		case <-sub.stop:
			return
		}
		n := 0
		select {
		case sub.held.room <- struct{}{}:
			n = 1
		case <-sub.stop:
			<-inFlight
			return
		}
	reserve:
		for n < room {
			select {
			case sub.held.room <- struct{}{}:
				n++
			default:
				break reserve
			}
		}
		batch, err := sub.cons.Fetch(n, jetstream.FetchContext(stopCtx),
			jetstream.FetchMaxBytes(fetchBytes(n, room, heldBytes, sub.s.nc.MaxPayload())))
		if err != nil {
			sub.unreserve(n)
			<-inFlight
			if !sub.pullFailed(err, stopCtx) {
				return
			}
			continue
		}
		pulls.Add(1)
		go func() {
			defer pulls.Done()
			got := 0
			for msg := range batch.Messages() {
				got++
				sub.held.add(msg)
				sub.route(ctx, msg, keyed, sem)
			}
			sub.unreserve(n - got) // room reserved for events that did not come
			if err := batch.Error(); err != nil {
				sub.pullFailed(err, stopCtx)
			}
			<-inFlight
		}()
	}
}

// pullsInFlight is how many pulls a trigger without ordering by key has
// waiting for their events at once.
const pullsInFlight = 2

// unreserve gives back n tokens of room.
func (sub *Subscription) unreserve(n int) {
	for range n {
		<-sub.held.room
	}
}

// pullFailed logs a failed pull and waits a moment before the next, so a
// broken connection is not hammered while the client reconnects. It reports
// false when the trigger is stopping.
func (sub *Subscription) pullFailed(err error, stopCtx context.Context) bool {
	if errors.Is(err, nats.ErrTimeout) || stopCtx.Err() != nil {
		return stopCtx.Err() == nil
	}
	sub.log.Warn("events: pull", "error", err)
	select {
	case <-sub.stop:
		return false
	case <-time.After(100 * time.Millisecond):
		return true
	}
}

// route hands msg to a handler: its key's queue with ordering by key,
// otherwise the trigger's runners, which take an invocation slot for it.
func (sub *Subscription) route(ctx context.Context, msg jetstream.Msg, keyed bool, sem chan struct{}) {
	key := ""
	if keyed {
		key = msg.Headers().Get(HeaderPartitionKey)
	}
	if key == "" {
		sub.work.Add(1)
		// Never blocks: every held event takes room, and runners queue
		// as many as there is room.
		sub.runners.run(func() {
			defer sub.work.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				sub.handBack(msg)
				sub.held.remove(msg)
				return
			}
			defer func() { <-sem }()
			sub.handle(ctx, msg, false, nil)
		})
		return
	}
	sub.keysMu.Lock()
	queue, busy := sub.keys[key]
	sub.keys[key] = append(queue, msg)
	sub.keysMu.Unlock()
	if !busy {
		sub.work.Add(1)
		sub.workers.run(func() { sub.runKey(ctx, key, sem) })
	}
}

// runKey processes the events of one ordering key one at a time, then
// exits when none is left.
func (sub *Subscription) runKey(ctx context.Context, key string, sem chan struct{}) {
	defer sub.work.Done()
	for {
		select {
		case <-sub.stop:
			// Closing: hand the queued events back now rather than run them;
			// their order resumes wherever they are redelivered.
			sub.keysMu.Lock()
			queue := sub.keys[key]
			delete(sub.keys, key)
			sub.keysMu.Unlock()
			for _, m := range queue {
				sub.handBack(m)
				sub.held.remove(m)
			}
			return
		default:
		}
		sub.keysMu.Lock()
		queue := sub.keys[key]
		if len(queue) == 0 {
			delete(sub.keys, key)
			sub.keysMu.Unlock()
			return
		}
		msg := queue[0]
		queue[0] = nil
		sub.keys[key] = queue[1:]
		sub.keysMu.Unlock()
		sub.handle(ctx, msg, true, sem)
	}
}

// Close stops pulling events, waits for running handlers until ctx ends,
// then cancels them; their events are redelivered later. Safe to call twice.
func (sub *Subscription) Close(ctx context.Context) error {
	sub.closeOnce.Do(func() {
		close(sub.stop)
		sub.stopFetch()
		done := make(chan struct{})
		go func() {
			// The dispatcher first: it is the only one that adds handlers.
			sub.loops.Wait()
			sub.work.Wait()
			sub.workers.wait()
			sub.runners.wait()
			close(sub.progressStop)
			sub.progressDone.Wait()
			close(sub.done)
			sub.outboxDone.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			sub.cancel()
			<-done
			sub.closeErr = fmt.Errorf("events: trigger %s: close: %w", sub.t.Name, ctx.Err())
		}
		sub.cancel()
		sub.s.untrack(sub)
	})
	return sub.closeErr
}

// handBack returns an event to JetStream for immediate redelivery when the
// trigger closes, once the dispatcher's pull request is gone.
func (sub *Subscription) handBack(m jetstream.Msg) {
	<-sub.fetched
	_ = m.Nak()
}

// held is the set of events a subscription holds unacknowledged: in a
// handler, waiting out a local retry delay, or queued behind their key.
// Each held event takes a token of room, so the dispatcher fetches no more
// than there is room for.
type held struct {
	mu   sync.Mutex
	msgs map[jetstream.Msg]struct{}
	room chan struct{}
}

// prefetch is how many events a trigger holds at most: enough to keep the
// invocation slots busy across a fetch round trip, and bounded well below
// the consumer's MaxAckPending so retries waiting out a delay leave room.
// At least 256: each fetch is a subscription and a pull request, and a
// trigger holds its events until their acks leave the outbox (up to a
// millisecond); with 128 a trigger draining into the C guest was bound by
// its room at about 42k events/s, with 256 it drained 48k–53k
// (docs/events.md, "Performance"). nats.go's own consumers buffer 500.
func prefetch(concurrency int) int {
	return min(max(4*concurrency, minPrefetch), maxAckPending/2)
}

// minPrefetch is the fewest events a trigger holds.
const minPrefetch = 256

// maxHeldBytes bounds the data of the events a trigger holds, about: each
// pull asks for at most its share of it per event (fetchBytes).
const maxHeldBytes = 64 << 20

// fetchBytes is the most bytes a pull of n events, out of a room of room,
// asks for: n shares of held bytes, but never less than the largest message
// the server takes (maxPayload, plus room for the subjects), which JetStream
// would otherwise refuse to deliver to the pull at all.
func fetchBytes(n, room, held int, maxPayload int64) int {
	const subjects = 64 << 10
	return max(n*(held/room), int(maxPayload)+subjects)
}

func (h *held) add(m jetstream.Msg) {
	h.mu.Lock()
	if h.msgs == nil {
		h.msgs = map[jetstream.Msg]struct{}{}
	}
	h.msgs[m] = struct{}{}
	h.mu.Unlock()
}

func (h *held) remove(m jetstream.Msg) {
	h.mu.Lock()
	_, ok := h.msgs[m]
	delete(h.msgs, m)
	h.mu.Unlock()
	if ok {
		<-h.room
	}
}

// reportProgress tells JetStream every third of the ack timeout that the
// held events are still being worked on, so long work is not redelivered.
// One goroutine per trigger, not one timer per event.
func (sub *Subscription) reportProgress() {
	defer sub.progressDone.Done()
	tick := time.NewTicker(sub.t.AckTimeout / 3)
	defer tick.Stop()
	var batch []jetstream.Msg
	for {
		select {
		case <-sub.progressStop:
			return
		case <-tick.C:
		}
		sub.held.mu.Lock()
		batch = batch[:0]
		for m := range sub.held.msgs {
			batch = append(batch, m)
		}
		sub.held.mu.Unlock()
		for _, m := range batch {
			_ = m.InProgress() // a lost progress report costs a redelivery, which the completion record absorbs
		}
	}
}
