//go:build !noevents

package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxSkippedListed bounds the routes a node lists as not applied in its
// registry entry; Skipped counts them all.
const maxSkippedListed = 20

// heartbeat registers the node every third of NodeTTL, and at once when it
// starts or stops following the bucket or LeaderChanged is called, until ctx
// ends.
func (s *State) heartbeat(ctx context.Context) {
	t := time.NewTicker(s.o.NodeTTL / 3)
	defer t.Stop()
	s.mu.Lock()
	wake := s.wake
	wasLive := s.live
	s.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.register(ctx)
		case <-s.announce:
			s.register(ctx)
		case <-wake:
			s.mu.Lock()
			wake = s.wake
			changed := s.live != wasLive
			wasLive = s.live
			s.mu.Unlock()
			if changed {
				s.register(ctx)
			}
		}
	}
}

// LeaderChanged registers the node at once, rather than at its next
// heartbeat, so that `edged status` on every node names a new leader within
// a round trip: call it when StateOptions.Leader's answer changes.
func (s *State) LeaderChanged() {
	select {
	case s.announce <- struct{}{}:
	default: // one is pending already
	}
}

// self is this node's registry entry.
func (s *State) self() Node {
	n := Node{Name: s.o.Node, Leader: s.o.Leader(), AgeSeconds: s.Age().Seconds(), Time: s.o.Now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	n.Revision, n.Live, n.Skipped = s.rev, s.live, len(s.skipped)
	names := make([]string, 0, len(s.skipped))
	for name := range s.skipped {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names[:min(len(names), maxSkippedListed)] {
		if n.NotApplied == nil {
			n.NotApplied = map[string]string{}
		}
		n.NotApplied[name] = s.skipped[name]
	}
	return n
}

func (s *State) register(ctx context.Context) {
	s.mu.Lock()
	nodes := s.nodes
	s.mu.Unlock()
	if nodes == nil || s.nc.Status() != nats.CONNECTED {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	if _, err := nodes.Put(ctx, s.o.Node, encode(s.self())); err != nil {
		s.o.Logger.Debug("fleet: node registration", "err", err)
	}
}

// Status reads the node registry.
func (s *State) Status(ctx context.Context) Status {
	st := Status{Node: s.o.Node, Self: s.self()}
	nodes, err := s.listNodes(ctx)
	if err != nil {
		st.Error = err.Error()
		nodes = []Node{st.Self}
	}
	// This node's own entry is the current one, not its last heartbeat.
	found := false
	for i := range nodes {
		if nodes[i].Name == s.o.Node {
			nodes[i], found = st.Self, true
		}
	}
	if !found {
		nodes = append(nodes, st.Self)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	st.Nodes = nodes
	st.Disagreements = disagreements(nodes)
	return st
}

// disagreements lists what differs between nodes that should agree.
func disagreements(nodes []Node) []string {
	var newest uint64
	for _, n := range nodes {
		newest = max(newest, n.Revision)
	}
	var out []string
	for _, n := range nodes {
		if !n.Live {
			out = append(out, fmt.Sprintf("%s: not following the fleet state (age %.0fs), serving its last-known-good state", n.Name, n.AgeSeconds))
		}
		if n.Revision < newest {
			out = append(out, fmt.Sprintf("%s: at revision %d, the newest is %d", n.Name, n.Revision, newest))
		}
		if n.Skipped > 0 {
			out = append(out, fmt.Sprintf("%s: does not apply the fleet state of %d route(s) (router.toml differs): %v", n.Name, n.Skipped, keys(n.NotApplied)))
		}
	}
	return out
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// maxNodesListed bounds the registry read by Status.
const maxNodesListed = 10000

func (s *State) listNodes(ctx context.Context) ([]Node, error) {
	s.mu.Lock()
	kv := s.nodes
	s.mu.Unlock()
	if kv == nil || s.nc.Status() != nats.CONNECTED {
		return nil, errors.New("the node registry is not reachable")
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", NodesBucket, err)
	}
	defer func() { _ = lister.Stop() }()
	var out []Node
	for key := range lister.Keys() {
		if len(out) >= maxNodesListed {
			break
		}
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read %s/%s: %w", NodesBucket, key, err)
		}
		var n Node
		if len(e.Value()) > maxStateBytes || json.Unmarshal(e.Value(), &n) != nil || n.Name != key {
			continue // not a node entry of ours
		}
		out = append(out, n)
	}
	return out, nil
}
