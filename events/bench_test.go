package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkThroughput drains b.N stored events through a trigger with a
// trivial in-process Invoker, and through a bare nats.go consumer acking the
// same messages (JetStream's floor), for both sync modes. bare-record is the
// bare consumer storing a completion record per message before its ack, in
// batches, as a trigger does: the floor of what a trigger promises (dedup of a lost ack,
// status), which no trigger can go below while it keeps one record per event;
// trigger-dedup-window is a trigger that keeps none (Dedup: DedupWindow). The figures are
// events/s and cpu-µs/event: the CPU time of the whole process (the embedded
// server included) per event drained, which varies much less than events/s
// when other work shares the cores. The queue is filled before the timer
// starts, so b.N is used to size it rather than b.Loop.
func BenchmarkThroughput(b *testing.B) {
	for _, mode := range []string{SyncInterval, SyncAlways} {
		b.Run("sync="+mode+"/bare", func(b *testing.B) { benchBare(b, mode, false) })
		b.Run("sync="+mode+"/bare-record", func(b *testing.B) { benchBare(b, mode, true) })
		b.Run("sync="+mode+"/trigger", func(b *testing.B) { benchTrigger(b, mode, Trigger{}) })
		b.Run("sync="+mode+"/trigger-dedup-window", func(b *testing.B) { benchTrigger(b, mode, Trigger{Dedup: DedupWindow}) })
		b.Run("sync="+mode+"/trigger-concurrency-32", func(b *testing.B) { benchTrigger(b, mode, Trigger{MaxConcurrency: 32}) })
	}
}

func benchServer(b *testing.B, mode string) *Server {
	s, err := Open(context.Background(), Options{StoreDir: b.TempDir(), Sync: mode})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// fill publishes n valid CloudEvents on subject and waits for their acks.
func fill(b *testing.B, s *Server, subject string, n int) {
	for i := range n {
		m := nats.NewMsg(subject)
		m.Header = Event{ID: fmt.Sprint(i), Source: "bench", Type: "t", Time: time.Unix(0, 0)}.header()
		m.Data = []byte(`{"n":1}`)
		if _, err := s.js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
		if i%256 == 255 || i == n-1 { // bounded in flight: fsync per write is slow
			select {
			case <-s.js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("publish did not complete")
			}
		}
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchBare(b *testing.B, mode string, record bool) {
	ctx := context.Background()
	s := benchServer(b, mode)
	st, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: "BARE", Subjects: []string{"bare"},
		Retention: jetstream.InterestPolicy, Storage: jetstream.FileStorage})
	if err != nil {
		b.Fatal(err)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "bare",
		AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: maxAckPending})
	if err != nil {
		b.Fatal(err)
	}
	fill(b, s, "bare", b.N)
	var n atomic.Int64
	done := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime(b)
	// With records, one goroutine stores them in batches and then acks
	// them, gathered as a trigger's outbox gathers them (nextBatch).
	batches := make(chan doneEvent, maxAckPending)
	defer close(batches)
	go func() {
		var fast fastBatches
		defer fast.close()
		batch := make([]doneEvent, 0, outboxBatch)
		for open := true; open; {
			batch, open = nextBatch(batches, batch[:0])
			if err := fast.store(s.nc, batch, publishTimeout); err != nil {
				b.Error(err)
			}
			for _, d := range batch {
				_ = d.msg.Ack()
				if n.Add(1) == int64(b.N) {
					close(done)
				}
			}
		}
	}()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if !record {
			_ = m.Ack()
			if n.Add(1) == int64(b.N) {
				close(done)
			}
			return
		}
		md, err := m.Metadata()
		if err != nil {
			b.Error(err)
			return
		}
		rec, err := json.Marshal(Record{State: StateDone, Trigger: "bare", Attempts: 1, Deliveries: int(md.NumDelivered),
			Status: http.StatusOK, Time: time.Now().UTC()})
		if err != nil {
			b.Error(err)
			return
		}
		batches <- doneEvent{msg: m, key: "bare." + kvKey("bench", m.Headers().Get(HeaderID)), record: rec}
	})
	if err != nil {
		b.Fatal(err)
	}
	<-done
	elapsed, cpuUsed := time.Since(start), cpuTime(b)-cpu
	b.StopTimer()
	cc.Stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpuUsed.Microseconds())/float64(b.N), "cpu-µs/event")
}

// benchTrigger drains through a trigger with trig's options.
func benchTrigger(b *testing.B, mode string, trig Trigger) {
	ctx := context.Background()
	s := benchServer(b, mode)
	var n atomic.Int64
	done := make(chan struct{})
	inv := InvokerFunc(func(context.Context, *http.Request) (int, http.Header, error) {
		if n.Add(1) == int64(b.N) {
			close(done)
		}
		return http.StatusOK, nil, nil
	})
	trig.Name, trig.Subject = "bench", "bench"
	// Create the stream and consumer, stop, fill, then time the drain.
	sub, err := s.Subscribe(ctx, trig, inv)
	if err != nil {
		b.Fatal(err)
	}
	if err := sub.Close(ctx); err != nil {
		b.Fatal(err)
	}
	fill(b, s, "bench", b.N)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime(b)
	sub, err = s.Subscribe(ctx, trig, inv)
	if err != nil {
		b.Fatal(err)
	}
	<-done
	elapsed, cpuUsed := time.Since(start), cpuTime(b)-cpu
	b.StopTimer()
	_ = sub.Close(ctx)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpuUsed.Microseconds())/float64(b.N), "cpu-µs/event")
}

// BenchmarkLatency publishes b.N events at a paced 1000 per second to a
// trigger with the trivial Invoker of BenchmarkThroughput, on the embedded
// server, and reports the publish-to-invoke latency: from the moment the
// publisher hands the event to the client to the moment the Invoker is
// called, p50 and p99 (and the worst) in milliseconds. The publisher does not
// wait for each store acknowledgement (PublishMsgAsync), so a slow fsync
// shows in the latency instead of slowing the pace. Run it with a fixed
// count, e.g. -benchtime=3000x.
func BenchmarkLatency(b *testing.B) {
	for _, mode := range []string{SyncInterval, SyncAlways} {
		b.Run("sync="+mode, func(b *testing.B) { benchLatency(b, mode) })
	}
}

func benchLatency(b *testing.B, mode string) {
	const rate = time.Millisecond // one event per tick: 1k events/s
	ctx := context.Background()
	s := benchServer(b, mode)
	sent := make([]time.Time, b.N) // written before the publish, read after the invoke
	lat := make([]time.Duration, b.N)
	var n atomic.Int64
	done := make(chan struct{})
	inv := InvokerFunc(func(_ context.Context, r *http.Request) (int, http.Header, error) {
		at := time.Now()
		i, err := strconv.Atoi(r.Header.Get(HeaderID))
		if err != nil || i < 0 || i >= len(lat) {
			return http.StatusUnprocessableEntity, nil, nil
		}
		lat[i] = at.Sub(sent[i])
		if n.Add(1) == int64(b.N) {
			close(done)
		}
		return http.StatusOK, nil, nil
	})
	sub, err := s.Subscribe(ctx, Trigger{Name: "latency", Subject: "latency"}, inv)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sub.Close(ctx) }()
	tick := time.NewTicker(rate)
	defer tick.Stop()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		m := nats.NewMsg("latency")
		m.Header = Event{ID: strconv.Itoa(i), Source: "bench", Type: "t", Time: time.Unix(0, 0)}.header()
		m.Data = []byte(`{"n":1}`)
		sent[i] = time.Now()
		if _, err := s.js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d events invoked within a minute", n.Load(), b.N)
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}
