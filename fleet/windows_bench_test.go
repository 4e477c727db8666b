package fleet

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged/edged/strangler/migrate"
)

// tickSampler is a node's router after tick seconds of steady traffic: each
// route has a per-second profile and has been active on some of the ticks.
type tickSampler struct {
	tick    atomic.Uint64
	every   uint64 // a route is active one tick in every; 1 = always
	names   []string
	index   map[string]int
	profile []migrate.Sample
}

func newTickSampler(routes int, every uint64) *tickSampler {
	s := &tickSampler{every: every, index: make(map[string]int, routes)}
	for i := range routes {
		name := fmt.Sprintf("route-%05d", i)
		s.names = append(s.names, name)
		s.index[name] = i
		s.profile = append(s.profile, busy(uint64(20+i%200)))
	}
	return s
}

func (s *tickSampler) Sample(route string) (migrate.Sample, bool) {
	i, ok := s.index[route]
	if !ok {
		return migrate.Sample{}, false
	}
	active := (s.tick.Load() + uint64(i)%s.every) / s.every // ticks this route was active
	return scale(s.profile[i], active), true
}

func (s *tickSampler) routes() []string { return s.names }

func scale(s migrate.Sample, k uint64) migrate.Sample {
	t := func(ts *migrate.TargetSample) {
		ts.Requests *= k
		ts.Errors *= k
		for i := range ts.Latency {
			ts.Latency[i] *= k
		}
	}
	t(&s.Legacy)
	t(&s.Isolate)
	s.ShadowCompared *= k
	s.ShadowMismatches *= k
	return s
}

// BenchmarkWindowTraffic measures what one node's gate windows cost the
// network: each iteration is one second of the node's life (one window) at
// 10, 1,000 and 10,000 routes, with every route busy (the worst case: every
// route changed) or one route in ten active in any second. Reported: payload
// bytes per window (= per node per second at the default interval), the same
// with NATS's framing (PUB line and CRLF), and messages per window. ns/op is
// the node's cost of building and sending one window.
func BenchmarkWindowTraffic(b *testing.B) {
	url := startNATS(b)
	nc, _ := connect(b, url, "bench")
	for _, routes := range []int{10, 1000, 10000} {
		for _, load := range []struct {
			name  string
			every uint64
		}{{"busy", 1}, {"tenth", 10}} {
			b.Run("routes="+strconv.Itoa(routes)+"/"+load.name, func(b *testing.B) {
				src := newTickSampler(routes, load.every)
				pub, err := NewWindowPublisher(nc, "node-1", src, src.routes, WindowPublisherOptions{})
				if err != nil {
					b.Fatal(err)
				}
				// The first window carries everything since the start;
				// steady state begins after it.
				src.tick.Add(1)
				if err := pub.Publish(); err != nil {
					b.Fatal(err)
				}
				start := pub.Stats()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					src.tick.Add(1)
					if err := pub.Publish(); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if err := nc.Flush(); err != nil {
					b.Fatal(err)
				}
				st := pub.Stats()
				windows := float64(st.Windows - start.Windows)
				msgs := float64(st.Messages - start.Messages)
				payload := float64(st.Bytes - start.Bytes)
				framing := msgs * float64(len("PUB "+WindowsSubject+"node-1 65536\r\n\r\n"))
				b.ReportMetric(payload/windows, "B/window")
				b.ReportMetric((payload+framing)/windows, "wire-B/window")
				b.ReportMetric(msgs/windows, "msgs/window")
			})
		}
	}
}

// BenchmarkWindowCollect measures the leader's side: taking in one node's
// window of 1,000 busy routes (decode twice: check, then sum).
func BenchmarkWindowCollect(b *testing.B) {
	src := newTickSampler(1000, 1)
	var msg []byte
	msg = appendWindowHeader(msg, 1, time.Second, 1000)
	for _, name := range src.names {
		w := src.profile[src.index[name]]
		msg = appendRoute(msg, name, &w)
	}
	c := &WindowCollector{dropAfter: DefaultDropAfter, maxNodes: DefaultMaxWindowNodes, maxRoutes: DefaultMaxWindowRoutes,
		now: time.Now, nodes: map[string]*nodeWindows{}, total: map[string]*migrate.Sample{}, received: make(chan struct{})}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq++
		msg[1] = byte(seq%100 + 1) // a one-byte seq: every window is a new one
		c.receive(WindowsSubject+"node-1", msg)
	}
}
