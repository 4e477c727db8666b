//go:build !noevents

package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/edged/edged/strangler/migrate"
	"github.com/nats-io/nats.go"
)

// WindowsSubject prefixes the subject a node publishes its gate windows on:
// WindowsSubject + node.
const WindowsSubject = "edged.fleet.windows."

// Gate window defaults: the zero options mean these.
const (
	// DefaultWindowInterval is how often a node publishes a window.
	DefaultWindowInterval = time.Second
	// DefaultWindowPart is the size a window's message is split at, in bytes.
	DefaultWindowPart = 64 << 10
	// DefaultDropAfter is how long a node may stay silent before the
	// collector drops it from the live nodes.
	DefaultDropAfter = 3 * time.Second
	// DefaultMaxWindowNodes bounds the nodes a collector tracks.
	DefaultMaxWindowNodes = 1024
	// DefaultMaxWindowRoutes bounds the routes a collector sums (about 1.1 KB
	// each: two latency histograms).
	DefaultMaxWindowRoutes = 20000
)

// WindowPublisherOptions configures a WindowPublisher. The zero value means
// the defaults.
type WindowPublisherOptions struct {
	// Interval between windows; default DefaultWindowInterval.
	Interval time.Duration
	// Part is the message size a window is split at, in bytes; default
	// DefaultWindowPart, at most MaxWindowMessage.
	Part int
	// Logger receives failed publishes; nil discards.
	Logger *slog.Logger
}

// WindowPublisher publishes one node's gate windows: each Interval, for every
// route whose numbers moved, what happened since the previous window (the
// difference of two cumulative strangler.Samples). Publish and Run may be
// called concurrently.
type WindowPublisher struct {
	nc       *nats.Conn
	subject  string
	src      migrate.Sampler
	routes   func() []string
	interval time.Duration
	part     int
	log      *slog.Logger

	mu      sync.Mutex
	last    map[string]*published // cumulative reading at the last window sent
	gen     uint64                // Publish calls; stamps the routes still present
	seq     uint64
	lastAt  time.Time
	entries []byte
	msg     []byte
	pending []pendingRoute
	stats   WindowPublisherStats
}

type published struct {
	s   migrate.Sample
	gen uint64
}

type pendingRoute struct {
	p   *published
	cur migrate.Sample
}

// WindowPublisherStats counts what a WindowPublisher sent.
type WindowPublisherStats struct {
	// Windows published whole, messages and payload bytes sent.
	Windows, Messages, Bytes uint64
	// Failed counts publishes the connection refused; their counts are
	// carried into the next window.
	Failed uint64
}

// NewWindowPublisher returns a publisher for node (see CheckNode) that reads
// src for the routes routes returns (called once per window). The first
// window carries each route's reading whole (a node's counters start with
// it); a route listed later starts from its reading when first listed, so
// routes may come and go from the list (a daemon lists the routes whose
// migration runs).
func NewWindowPublisher(nc *nats.Conn, node string, src migrate.Sampler, routes func() []string, o WindowPublisherOptions) (*WindowPublisher, error) {
	if err := CheckNode(node); err != nil {
		return nil, err
	}
	var errs []error
	if o.Interval < 0 {
		errs = append(errs, errors.New("fleet.windows.interval: must be >= 0"))
	}
	if o.Part < 0 || o.Part > MaxWindowMessage {
		errs = append(errs, fmt.Errorf("fleet.windows.part: must be in 0..%d", MaxWindowMessage))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Interval == 0 {
		o.Interval = DefaultWindowInterval
	}
	if o.Part == 0 {
		o.Part = DefaultWindowPart
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &WindowPublisher{
		nc: nc, subject: WindowsSubject + node, src: src, routes: routes,
		interval: o.Interval, part: o.Part, log: o.Logger,
		last: map[string]*published{}, lastAt: time.Now(),
	}, nil
}

// Run publishes a window every Interval until ctx ends.
func (p *WindowPublisher) Run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := p.Publish(); err != nil {
				p.log.Warn("fleet gate windows", "error", err)
			}
		}
	}
}

// Stats returns the publisher's counters.
func (p *WindowPublisher) Stats() WindowPublisherStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Publish sends one window now: every route whose numbers moved since the
// last window, in as many messages as Part requires, or one empty message
// (the node's heartbeat) when nothing moved. A route whose message the
// connection refused keeps its old reading, so its counts go out with the
// next window.
func (p *WindowPublisher) Publish() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.gen++
	p.seq++
	span := now.Sub(p.lastAt)
	headerMax := 1 + 3*binary64
	p.entries, p.pending = p.entries[:0], p.pending[:0]
	var errs []error
	sent := 0
	flush := func() {
		if len(p.pending) == 0 && sent > 0 {
			return
		}
		p.msg = appendWindowHeader(p.msg[:0], p.seq, span, len(p.pending))
		p.msg = append(p.msg, p.entries...)
		if err := p.nc.Publish(p.subject, p.msg); err != nil {
			p.stats.Failed++
			errs = append(errs, err)
		} else {
			p.stats.Messages++
			p.stats.Bytes += uint64(len(p.msg))
			for i := range p.pending {
				p.pending[i].p.s = p.pending[i].cur
			}
		}
		sent++
		p.entries, p.pending = p.entries[:0], p.pending[:0]
	}
	for _, name := range p.routes() {
		if name == "" || len(name) > math.MaxUint8 {
			continue // not a route name strangler accepts
		}
		last, cur, w, ok := p.window(name)
		if !ok {
			continue
		}
		before := len(p.entries)
		p.entries = appendRoute(p.entries, name, &w)
		if headerMax+len(p.entries) > p.part && len(p.pending) > 0 {
			// This route starts the next part.
			entry := append([]byte(nil), p.entries[before:]...)
			p.entries = p.entries[:before]
			flush()
			p.entries = append(p.entries, entry...)
		}
		p.pending = append(p.pending, pendingRoute{last, cur})
	}
	flush()
	for name, last := range p.last {
		if last.gen != p.gen {
			delete(p.last, name) // the route is gone
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("fleet: publish gate window: %w", errors.Join(errs...))
	}
	p.stats.Windows++
	p.lastAt = now
	return nil
}

// window reads route name's numbers for the window of generation p.gen: its
// reading now (cur), what moved since the last reading published (w), and that
// last reading, to advance once the window is out. ok is false when the route
// has nothing to send: no reading, no movement, a route first listed now (its
// reading becomes the baseline), or a name listed twice. p.mu is held.
func (p *WindowPublisher) window(name string) (last *published, cur, w migrate.Sample, ok bool) {
	cur, ok = p.src.Sample(name)
	if !ok {
		return nil, cur, w, false
	}
	last = p.last[name]
	if last == nil {
		last = &published{}
		p.last[name] = last
		if p.gen > 1 {
			// Listed after the first window (its migration started, or
			// started again): what it served before is no window's,
			// and sending it would add the route's whole past to the
			// leader's sums. Its first reading is the baseline.
			last.s, last.gen = cur, p.gen
			return nil, cur, w, false
		}
	} else if last.gen == p.gen {
		return nil, cur, w, false // listed twice: its window is out already
	}
	last.gen = p.gen
	w = cur.Sub(last.s)
	return last, cur, w, w != (migrate.Sample{})
}

// binary64 is the longest uvarint.
const binary64 = 10

// WindowCollectorOptions configures a WindowCollector. The zero value means
// the defaults.
type WindowCollectorOptions struct {
	// DropAfter is how long a node may be silent before it drops out of
	// Nodes; a window covering a longer span (a node that could not publish
	// for that long) is not summed either: its traffic cannot be placed in
	// time. Default DefaultDropAfter.
	DropAfter time.Duration
	// MaxNodes and MaxRoutes bound the nodes tracked and the routes summed;
	// windows beyond them are counted in Stats.Refused. Defaults
	// DefaultMaxWindowNodes and DefaultMaxWindowRoutes.
	MaxNodes, MaxRoutes int
	// Now is the clock that judges silence; nil means time.Now. For tests.
	Now func() time.Time
}

// WindowCollector sums the gate windows of every node of the fleet into
// fleet-wide cumulative readings: it implements migrate.Sampler, so the
// leader's migrate.Controller judges gates on the whole fleet's traffic. A
// reading counts what the collector received since it started; the
// controller only ever subtracts two readings. Its methods are safe for
// concurrent use.
type WindowCollector struct {
	sub       *nats.Subscription
	dropAfter time.Duration
	maxNodes  int
	maxRoutes int
	now       func() time.Time

	mu    sync.Mutex
	nodes map[string]*nodeWindows
	total map[string]*migrate.Sample
	stats WindowCollectorStats
	// received is closed and replaced after each message.
	received chan struct{}

	closeOnce sync.Once
	closeErr  error
}

type nodeWindows struct {
	seen    time.Time
	seq     uint64
	windows uint64
	lost    uint64
}

// WindowCollectorStats counts what a WindowCollector received.
type WindowCollectorStats struct {
	// Messages and Bytes received.
	Messages, Bytes uint64
	// Malformed messages (wrong version, bad encoding, bad node name).
	Malformed uint64
	// Stale windows: spans longer than DropAfter, not summed.
	Stale uint64
	// Refused windows or routes: beyond MaxNodes or MaxRoutes.
	Refused uint64
}

// NodeWindows describes one live node as the collector sees it.
type NodeWindows struct {
	Node string
	// Seen is when its last message arrived.
	Seen time.Time
	// Seq is its last window's number; Windows counts windows received and
	// Lost the windows its numbering shows were never received.
	Seq, Windows, Lost uint64
}

// CollectWindows subscribes nc to every node's gate windows. Close stops it.
func CollectWindows(nc *nats.Conn, o WindowCollectorOptions) (*WindowCollector, error) {
	if o.DropAfter < 0 || o.MaxNodes < 0 || o.MaxRoutes < 0 {
		return nil, errors.New("fleet: window collector options must be >= 0")
	}
	if o.DropAfter == 0 {
		o.DropAfter = DefaultDropAfter
	}
	if o.MaxNodes == 0 {
		o.MaxNodes = DefaultMaxWindowNodes
	}
	if o.MaxRoutes == 0 {
		o.MaxRoutes = DefaultMaxWindowRoutes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &WindowCollector{
		dropAfter: o.DropAfter, maxNodes: o.MaxNodes, maxRoutes: o.MaxRoutes, now: o.Now,
		nodes: map[string]*nodeWindows{}, total: map[string]*migrate.Sample{},
		received: make(chan struct{}),
	}
	sub, err := nc.Subscribe(WindowsSubject+">", func(m *nats.Msg) { c.receive(m.Subject, m.Data) })
	if err != nil {
		return nil, fmt.Errorf("fleet: subscribe %s>: %w", WindowsSubject, err)
	}
	c.sub = sub
	return c, nil
}

// Received returns a channel closed when the next message has been taken
// in (summed, or counted as malformed, stale or refused).
func (c *WindowCollector) Received() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.received
}

// receive takes in one message; it runs on the subscription's goroutine.
func (c *WindowCollector) receive(subject string, data []byte) {
	node := strings.TrimPrefix(subject, WindowsSubject)
	h, err := decodeWindow(data, nil)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() {
		close(c.received)
		c.received = make(chan struct{})
	}()
	c.stats.Messages++
	c.stats.Bytes += uint64(len(data))
	if err != nil || CheckNode(node) != nil {
		c.stats.Malformed++
		return
	}
	c.dropSilentLocked(now)
	n := c.nodes[node]
	if n == nil {
		if len(c.nodes) >= c.maxNodes {
			c.stats.Refused++
			return
		}
		n = &nodeWindows{}
		c.nodes[node] = n
	}
	switch {
	case h.seq < n.seq: // the node restarted and counts from 1 again
		n.seq = h.seq
		n.windows++
	case h.seq > n.seq:
		if n.seq != 0 {
			n.lost += h.seq - n.seq - 1
		}
		n.seq = h.seq
		n.windows++
	} // equal: another part of the same window
	n.seen = now
	if h.span > c.dropAfter {
		c.stats.Stale++
		return
	}
	_, _ = decodeWindow(data, func(rw *routeWindow) {
		t := c.total[string(rw.name)]
		if t == nil {
			if len(c.total) >= c.maxRoutes {
				c.stats.Refused++
				return
			}
			t = &migrate.Sample{}
			c.total[string(rw.name)] = t
		}
		addSample(t, &rw.s)
	})
}

// dropSilentLocked forgets nodes silent for longer than DropAfter.
func (c *WindowCollector) dropSilentLocked(now time.Time) {
	for name, n := range c.nodes {
		if now.Sub(n.seen) > c.dropAfter {
			delete(c.nodes, name)
		}
	}
}

// Sample returns the fleet-wide cumulative reading of route: the sum of
// every window received for it. It implements migrate.Sampler; a route no
// node reported reads as zero.
func (c *WindowCollector) Sample(route string) (migrate.Sample, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.total[route]; t != nil {
		return *t, true
	}
	return migrate.Sample{}, true
}

var _ migrate.Sampler = (*WindowCollector)(nil)

// Nodes returns the live nodes, sorted by name: those heard from within
// DropAfter.
func (c *WindowCollector) Nodes() []NodeWindows {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropSilentLocked(now)
	out := make([]NodeWindows, 0, len(c.nodes))
	for name, n := range c.nodes {
		out = append(out, NodeWindows{Node: name, Seen: n.seen, Seq: n.seq, Windows: n.windows, Lost: n.lost})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// Stats returns the collector's counters.
func (c *WindowCollector) Stats() WindowCollectorStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Close unsubscribes, letting messages already received finish. Safe to call
// twice.
func (c *WindowCollector) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		if err := c.sub.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			c.closeErr = err
			return
		}
		// Drain returns at once; wait until the subscription is gone.
		for c.sub.IsValid() {
			select {
			case <-ctx.Done():
				c.closeErr = ctx.Err()
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	return c.closeErr
}

// addSample adds w to t, saturating: a window is untrusted input.
func addSample(t, w *migrate.Sample) {
	addTarget(&t.Legacy, &w.Legacy)
	addTarget(&t.Isolate, &w.Isolate)
	t.ShadowCompared = addSat(t.ShadowCompared, w.ShadowCompared)
	t.ShadowMismatches = addSat(t.ShadowMismatches, w.ShadowMismatches)
}

func addTarget(t, w *migrate.TargetSample) {
	t.Requests = addSat(t.Requests, w.Requests)
	t.Errors = addSat(t.Errors, w.Errors)
	for i := range t.Latency {
		t.Latency[i] = addSat(t.Latency[i], w.Latency[i])
	}
}

func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}
