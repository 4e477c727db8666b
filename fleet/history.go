//go:build !noevents

package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/strangler"
)

// MaxHistory bounds the events History returns.
const MaxHistory = 10000

// History returns the newest events of one route (route != "") or of every
// route, oldest first, at most limit (1..MaxHistory), from EventsStream:
// what every node of the fleet did, whichever node it was done on. The
// events' Seq is the stream's sequence.
func (s *State) History(ctx context.Context, route string, limit int) ([]strangler.Event, error) {
	limit = min(max(limit, 1), MaxHistory)
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	stream, err := s.js.Stream(ctx, EventsStream)
	if err != nil {
		return nil, s.unavailable("history", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, s.unavailable("history", err)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{eventsSubjectPrefix + ">"}}
	if route != "" {
		// MaxMsgsPerSubject bounds one route's history: read it all.
		cfg.FilterSubjects = []string{EventsSubject(route)}
	} else if last := info.State.LastSeq; last > uint64(limit) {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last-uint64(limit)+1
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, s.unavailable("history", err)
	}
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return nil, nil // nothing for this filter: do not wait out a fetch
	}
	var out []strangler.Event
	for range MaxHistory + eventsPerRoute {
		msg, err := cons.Next(jetstream.FetchMaxWait(200 * time.Millisecond))
		if errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			break
		}
		if err != nil {
			return nil, s.unavailable("history", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return nil, s.unavailable("history", err)
		}
		var h historyEvent
		if len(msg.Data()) <= maxStateBytes && json.Unmarshal(msg.Data(), &h) == nil {
			out = append(out, strangler.Event{Seq: meta.Sequence.Stream, Time: h.Time, Route: h.Route, Kind: h.Kind,
				From: h.From, To: h.To, Weight: h.Weight, Step: h.Step, Actor: h.Actor, Reason: withNode(h)})
		}
		if meta.NumPending == 0 {
			break
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// withNode adds the node a change was made on to its reason.
func withNode(h historyEvent) string {
	if h.Node == "" {
		return h.Reason
	}
	if h.Reason == "" {
		return fmt.Sprintf("(on node %s)", h.Node)
	}
	return fmt.Sprintf("%s (on node %s)", h.Reason, h.Node)
}
