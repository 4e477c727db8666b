package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

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
	iter   jetstream.MessagesContext
	sched  Schedule
	log    *slog.Logger

	held   held
	stop   chan struct{}
	cancel context.CancelFunc // ends invocations once Close gives up waiting
	loops  sync.WaitGroup     // dispatcher, progress reporter, ticker
	work   sync.WaitGroup     // handlers
	// acks feeds the acker; closed once handlers are done.
	acks      chan pendingAck
	ackerDone sync.WaitGroup

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
		log:  s.opts.Logger.With("trigger", t.Name),
		stop: make(chan struct{}),
		keys: map[string][]jetstream.Msg{},
		acks: make(chan pendingAck, maxAckPending),
	}
	var err error
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
	if sub.cons, err = sub.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
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
	}); err != nil {
		return nil, fmt.Errorf("events: trigger %s: consumer: %w", t.Name, err)
	}
	if sub.iter, err = sub.cons.Messages(jetstream.PullMaxMessages(t.MaxConcurrency)); err != nil {
		return nil, fmt.Errorf("events: trigger %s: consume: %w", t.Name, err)
	}
	if err := s.track(sub); err != nil {
		sub.iter.Stop()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sub.cancel = cancel
	sub.loops.Add(2)
	sub.ackerDone.Add(1)
	go sub.acker()
	go sub.dispatch(runCtx)
	go sub.reportProgress()
	if t.Schedule != "" {
		sub.loops.Add(1)
		go sub.tick(runCtx)
	}
	return sub, nil
}

const schedulesStream = "EDGED_SCHEDULES"

// ensureStream adopts the stream that captures subject, or creates one.
func (s *Server) ensureStream(ctx context.Context, name, subject string, retention jetstream.RetentionPolicy) (jetstream.Stream, error) {
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
	})
	if err != nil {
		return nil, fmt.Errorf("events: create stream %s for %s: %w", name, subject, err)
	}
	return st, nil
}

// Trigger returns the trigger with its defaults filled in.
func (sub *Subscription) Trigger() Trigger { return sub.t }

// dispatch pulls events and hands them to handlers, at most MaxConcurrency
// invocations at once.
func (sub *Subscription) dispatch(ctx context.Context) {
	defer sub.loops.Done()
	sem := make(chan struct{}, sub.t.MaxConcurrency)
	keyed := sub.t.Ordering == OrderingKey
	for {
		if !keyed {
			// Take a slot before pulling, so an event is never held waiting
			// for one while its ack timer runs.
			select {
			case sem <- struct{}{}:
			case <-sub.stop:
				return
			}
		}
		msg, err := sub.iter.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			sub.log.Warn("events: pull", "error", err)
			if !keyed {
				<-sem
			}
			select {
			case <-sub.stop:
				return
			case <-time.After(100 * time.Millisecond): // the client reconnects meanwhile
			}
			continue
		}
		sub.held.add(msg)
		key := ""
		if keyed {
			key = msg.Headers().Get(HeaderPartitionKey)
		}
		if key == "" {
			sub.work.Add(1)
			go func() {
				defer sub.work.Done()
				if keyed {
					sem <- struct{}{}
				}
				defer func() { <-sem }()
				sub.handle(ctx, msg, false, nil)
			}()
			continue
		}
		sub.keysMu.Lock()
		queue, busy := sub.keys[key]
		sub.keys[key] = append(queue, msg)
		sub.keysMu.Unlock()
		if !busy {
			sub.work.Add(1)
			go sub.runKey(ctx, key, sem)
		}
	}
}

// runKey processes the events of one ordering key one at a time, then
// exits when none is left.
func (sub *Subscription) runKey(ctx context.Context, key string, sem chan struct{}) {
	defer sub.work.Done()
	for {
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
		sub.iter.Stop()
		done := make(chan struct{})
		go func() {
			sub.work.Wait()
			sub.loops.Wait()
			close(sub.acks)
			sub.ackerDone.Wait()
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

// held is the set of events a subscription holds unacknowledged: in a
// handler, waiting out a local retry delay, or queued behind their key.
type held struct {
	mu   sync.Mutex
	msgs map[jetstream.Msg]struct{}
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
	delete(h.msgs, m)
	h.mu.Unlock()
}

// reportProgress tells JetStream every third of the ack timeout that the
// held events are still being worked on, so long work is not redelivered.
// One goroutine per trigger, not one timer per event.
func (sub *Subscription) reportProgress() {
	defer sub.loops.Done()
	tick := time.NewTicker(sub.t.AckTimeout / 3)
	defer tick.Stop()
	var batch []jetstream.Msg
	for {
		select {
		case <-sub.stop:
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
