//go:build !noevents

package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/events"
	"github.com/edged/edged/fleet"
	"github.com/edged/edged/idempotency"
	"github.com/edged/edged/idempotency/kvstore"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/router"
)

// eventsEngine is the events engine of env: NATS JetStream. A build with
// -tags noevents has none (events_noevents.go).
type eventsEngine = events.Server

// startEvents opens the events engine when the file needs one ([events], or
// triggers, enqueue routes or publish lists, which give it the defaults):
// the embedded JetStream server under events.store_dir, or a connection to
// events.url. The engine lives as long as the process, like the runtime:
// [events] and [[triggers]] are applied at start only (warnRestartOnly).
func (d *Daemon) startEvents(ctx context.Context, cfg *config.Config) error {
	if cfg.Events == nil {
		return nil
	}
	opts := eventsOptions(cfg)
	opts.Logger = d.o.Logger.With("component", "events")
	m := newEventMetrics(opts.Logger)
	opts.Observer = m
	opts.Exporter = worldExporter{&d.world}
	srv, err := events.Open(ctx, opts)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	m.srv = srv
	d.evMetrics = m
	d.stack.push(func() {
		if err := srv.Close(context.Background()); err != nil {
			d.o.Logger.Warn("events: close", "err", err)
		}
	})
	d.env.events = srv
	d.env.fleetLimiters = newFleetLimiters(srv.JetStream(), d.o.Logger.With("component", "fleetrate"))
	if cfg.Fleet.State == fleet.StateNATS {
		if d.env.idempotency, err = sharedIdempotencyStore(ctx, srv, fleetNode(cfg)); err != nil {
			return err
		}
	}
	return nil
}

// eventsOptions are the options of the events engine of cfg. A node names
// its embedded server after itself ([fleet] node, when set): the servers of
// a NATS cluster need distinct names, and the default, the host name, is the
// same for every daemon on one host.
func eventsOptions(cfg *config.Config) events.Options {
	opts := cfg.Events.Options()
	opts.ServerName = cfg.Fleet.Node // "": the events default, the host name
	return opts
}

// sharedIdempotencyStore opens the fleet's idempotency bucket on srv
// (idempotency/kvstore): with state = "nats" every route's
// [routes.idempotency] keeps its keys there, so a duplicate on any node of
// the fleet replays the answer or waits for the request running elsewhere.
// Each route derives its own store with its TTL and response cap.
func sharedIdempotencyStore(ctx context.Context, srv *events.Server, node string) (sharedIdempotency, error) {
	// A bucket of replicas 3 on a cluster that just formed is refused for a
	// while, as the events' own are: retried the same way.
	var store *kvstore.Store
	err := srv.WhenReady(ctx, func(ctx context.Context) error {
		var err error
		store, err = kvstore.New(ctx, srv.JetStream(), kvstore.Options{Node: node, Replicas: srv.Replicas()})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: idempotency keys: %w", err)
	}
	return func(ttl time.Duration, maxResponse int) (idempotency.Store, error) {
		return store.Derive(kvstore.Options{TTL: ttl, MaxResponseBytes: maxResponse})
	}, nil
}

// startTriggers subscribes every [[triggers]] entry of cfg, delivering to the
// function of that name in the World installed at the time of each event (a
// reload that replaces the function's module applies to the next event). The
// subscriptions are closed at shutdown, before the engine.
func (d *Daemon) startTriggers(ctx context.Context, cfg *config.Config, w *router.World) error {
	srv := d.env.events
	if srv == nil {
		return nil
	}
	// The router's registry is the one the admin API serves on /metrics.
	if err := d.server.Registerer().Register(d.evMetrics); err != nil {
		return fmt.Errorf("events: metrics: %w", err)
	}
	if err := d.server.Registerer().Register(newFleetRateMetrics(&d.world)); err != nil {
		return fmt.Errorf("fleet rate limits: metrics: %w", err)
	}
	if len(cfg.Triggers) == 0 {
		return nil
	}
	var subs []*events.Subscription
	d.stack.push(func() {
		for _, s := range subs {
			if err := s.Close(context.Background()); err != nil {
				d.o.Logger.Warn("events: close trigger", "trigger", s.Trigger().Name, "err", err)
			}
		}
	})
	for i, tc := range cfg.Triggers {
		t := tc.Events()
		d.evMetrics.init(t.Name)
		if f := w.Functions[tc.Function]; f != nil {
			t.MaxBodyBytes = int64(f.Policy().MaxRequestBody)
		}
		sub, err := srv.Subscribe(context.WithoutCancel(ctx), t, &invoker{function: tc.Function, world: &d.world})
		if err != nil {
			return fmt.Errorf("triggers[%d]: %w", i, err)
		}
		subs = append(subs, sub)
	}
	return nil
}

// invoker delivers a trigger's events to a function of the current World. It
// is the events side of what the router does for a request on the isolate
// stage: an isolate.Request in, the guest's status out. Failures of the guest
// (trap, deadline, memory, body cap, a busy pool) are returned as errors, which
// the trigger retries with backoff and dead-letters after its retries.
type invoker struct {
	function string
	world    *atomic.Pointer[router.World]
	// exchanges reuses the request and response of past events: on a busy
	// queue their buffers were most of what an event allocated.
	exchanges sync.Pool
}

// exchange is one event's request to a function and its answer.
type exchange struct {
	req  isolate.Request
	resp isolate.Response
}

// maxPooledBody is the largest body buffer kept for the next event, so one
// large event does not pin its buffer for the daemon's life.
const maxPooledBody = 64 << 10

// errNoFunction: the function of a trigger is not in the current World (a
// reload removed it). The event is retried, and dead-lettered if it stays so.
var errNoFunction = errors.New("function not loaded")

// Invoke implements events.Invoker.
func (iv *invoker) Invoke(ctx context.Context, r *http.Request) (int, http.Header, error) {
	w := iv.world.Load()
	var f *isolate.Function
	if w != nil {
		f = w.Functions[iv.function]
	}
	if f == nil {
		return 0, nil, fmt.Errorf("%w: %s", errNoFunction, iv.function)
	}
	x, _ := iv.exchanges.Get().(*exchange)
	if x == nil {
		x = new(exchange)
	}
	defer iv.release(x)
	if err := cloudEventRequest(&x.req, r, int64(f.Policy().MaxRequestBody)); err != nil {
		return 0, nil, err
	}
	if err := f.Handle(ctx, &x.req, &x.resp, nil); err != nil {
		return 0, nil, err
	}
	var h http.Header
	if n := x.resp.Header.Len(); n > 0 {
		h = make(http.Header, n)
		for i := range n {
			k, v := x.resp.Header.At(i)
			h.Add(string(k), string(v))
		}
	}
	return x.resp.Status, h, nil
}

// release returns x to the pool, emptied, unless its bodies grew large.
func (iv *invoker) release(x *exchange) {
	if cap(x.req.Body) > maxPooledBody || cap(x.resp.Body) > maxPooledBody {
		return
	}
	x.req.Reset()
	x.resp.Reset()
	iv.exchanges.Put(x)
}

// cloudEventRequest copies the CloudEvents binary-mode request events builds
// into dst, an empty Request whose buffers it reuses: POST / with the ce-*
// headers, Content-Type, traceparent and the data as body, read up to maxBody
// (events has already bounded it to the same cap, so a longer body is an
// error, not a truncation).
func cloudEventRequest(dst *isolate.Request, r *http.Request, maxBody int64) error {
	dst.Method = append(dst.Method[:0], r.Method...)
	dst.URI = append(dst.URI[:0], r.URL.RequestURI()...)
	dst.Protocol = append(dst.Protocol[:0], "HTTP/1.1"...)
	for k, vs := range r.Header {
		for _, v := range vs {
			dst.Header.AddString(k, v)
		}
	}
	if r.Body == nil {
		return nil
	}
	tooLarge := func() error {
		return fmt.Errorf("event data over the function's max_request_body of %d bytes: %w", maxBody, isolate.ErrBodyTooLarge)
	}
	if r.ContentLength > maxBody {
		return tooLarge()
	}
	if r.ContentLength >= 0 {
		// events states the length: read it into dst's buffer at once.
		n := int(r.ContentLength)
		dst.Body = slices.Grow(dst.Body[:0], n+1)[:n]
		if _, err := io.ReadFull(r.Body, dst.Body); err != nil {
			return fmt.Errorf("read event data: %w", err)
		}
		if m, _ := r.Body.Read(dst.Body[n : n+1]); m > 0 {
			return errors.New("read event data: longer than its stated length")
		}
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("read event data: %w", err)
	}
	if int64(len(body)) > maxBody {
		return tooLarge()
	}
	dst.Body = append(dst.Body[:0], body...)
	return nil
}

// publisher backs isolate.FunctionOptions.Publisher with the events engine:
// a guest's edged.publish returns once JetStream has stored the event. The
// event carries the traceparent of the span handling the invocation: the
// router's (isolate.PublishTrace) for a request, the trigger's delivery
// (already in ctx) for an event.
type publisher struct{ srv *events.Server }

// Publish implements isolate.Publisher.
func (p publisher) Publish(ctx context.Context, subject, ceType string, data []byte) error {
	if tp, ts := isolate.PublishTrace(ctx); tp != "" {
		ctx = events.WithTraceParent(ctx, tp, ts)
	}
	_, err := p.srv.Publish(ctx, subject, ceType, data)
	return err
}

// enqueuer backs router.World.Enqueuer with the events engine: an enqueue
// route's request is stored by JetStream before the client gets its 202.
type enqueuer struct{ srv *events.Server }

// Enqueue implements router.Enqueuer.
func (q enqueuer) Enqueue(ctx context.Context, subject string, ev *router.EnqueuedEvent) error {
	e := events.Event{
		ID: ev.ID, Source: ev.Source, Type: ev.Type, ContentType: ev.ContentType,
		TraceParent: ev.TraceParent, Data: ev.Data,
	}
	if err := q.srv.PublishEvent(ctx, subject, &e); err != nil {
		return err
	}
	ev.ID = e.ID
	return nil
}

// eventStatus is the admin API's view of the engine; nil without one (an
// interface holding a nil *events.Server would not be nil).
func (d *Daemon) eventStatus() admin.EventsEngine {
	if d.env.events == nil {
		return nil
	}
	return d.env.events
}

// eventsNeedRestart refuses a reload that needs an events engine this process
// did not start: the engine and its triggers are set up once, at start.
func eventsNeedRestart(e env, cfg *config.Config) error {
	if e.events == nil && cfg.Events != nil {
		return errors.New("events: the file now needs the events engine ([events], triggers, enqueue " +
			"routes or publish), which starts with edged: restart it")
	}
	return nil
}

// warnEventsRestartOnly logs changes to [events] and [[triggers]], which a
// reload does not apply (docs/events.md).
func (d *Daemon) warnEventsRestartOnly(prev, next *config.Config) {
	if !reflect.DeepEqual(prev.Events, next.Events) || !reflect.DeepEqual(prev.Triggers, next.Triggers) {
		d.o.Logger.Warn("reload: [events] and [[triggers]] changes take effect at the next restart")
	}
}
