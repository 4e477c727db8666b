// Command loadevents measures how fast a queue drains, for scripts/loadtest-events.sh:
// edged's trigger running a real guest against a bare nats.go consumer acking the same
// CloudEvents, both separate processes on one JetStream server, so what differs is only
// the consumer.
//
//	loadevents -mode server -listen 127.0.0.1:14222 -store DIR -sync interval
//	loadevents -mode fill   -url nats://127.0.0.1:14222 -subject load.guest -n 20000
//	loadevents -mode watch  -url ... -stream EDGED_load -pids "SERVER_PID EDGED_PID"
//	loadevents -mode bare   -url ... -n 20000 -pids SERVER_PID
//
// server runs edged's events engine alone (the embedded JetStream server edged starts,
// listening on loopback) until SIGTERM. fill publishes N CloudEvents on a subject the way
// edged does. watch polls a stream until it is empty and prints the drain rate: the
// events left at the first poll that saw one go, drained by the poll that saw none,
// over that time (the consumer's start-up is outside it), and the CPU the -pids used
// meanwhile per event. bare creates its own stream, fills it with N events, drains it
// with a bare consumer acking each, and reports the same way, its own CPU included.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edged/edged/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	mode := flag.String("mode", "", `"server", "fill", "watch" or "bare"`)
	url := flag.String("url", "nats://127.0.0.1:14222", "the JetStream server (fill, watch, bare)")
	listen := flag.String("listen", "127.0.0.1:14222", "-mode server: loopback address to listen on")
	store := flag.String("store", "", "-mode server: store directory")
	sync := flag.String("sync", events.SyncInterval, `-mode server: "interval" or "always"`)
	subject := flag.String("subject", "load.guest", "-mode fill: the subject to publish on")
	stream := flag.String("stream", "", "-mode watch: the stream to watch drain")
	n := flag.Int("n", 20000, "events to publish (fill, bare)")
	size := flag.Int("size", 64, "bytes of data per event")
	pids := flag.String("pids", "", "processes whose CPU counts (watch, bare): space-separated")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	poll := flag.Duration("poll", 2*time.Millisecond, "watch, bare: how often to read the stream's state")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var err error
	switch *mode {
	case "server":
		err = runServer(ctx, *listen, *store, *sync)
	case "fill", "watch", "bare":
		err = runClient(ctx, *mode, *url, clientArgs{subject: *subject, stream: *stream, n: *n, size: *size, pids: *pids, poll: *poll})
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadevents:", err)
		os.Exit(1)
	}
}

// runServer runs the events engine as its own process until ctx ends. Close is
// given a fresh context: ctx is already done then.
func runServer(ctx context.Context, listen, store, sync string) error {
	if store == "" {
		return errors.New("-store is required")
	}
	s, err := events.Open(ctx, events.Options{StoreDir: store, Sync: sync, Listen: listen, ServerName: "loadevents"})
	if err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close(context.Background())
}

type clientArgs struct {
	subject, stream string
	n, size         int
	pids            string
	poll            time.Duration
}

func runClient(ctx context.Context, mode, url string, a clientArgs) error {
	nc, err := nats.Connect(url, nats.Name("loadevents"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	pids, err := parsePIDs(a.pids)
	if err != nil {
		return err
	}
	switch mode {
	case "fill":
		return fill(ctx, nc, a.subject, a.n, a.size)
	case "watch":
		st, err := js.Stream(ctx, a.stream)
		if err != nil {
			return err
		}
		return report(watch(ctx, st, pids, a.poll))
	default:
		return bare(ctx, nc, js, a, pids)
	}
}

// fill publishes n CloudEvents on subject through edged's own publisher, a few
// at a time in parallel (filling is not what is measured).
func fill(ctx context.Context, nc *nats.Conn, subject string, n, size int) error {
	s, err := events.NewWithConn(ctx, nc, events.Options{Source: "loadevents"})
	if err != nil {
		return err
	}
	defer s.Close(context.Background())
	data := make([]byte, size)
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	const workers = 16
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if _, err := s.Publish(ctx, subject, "load.event", data); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// bare fills a stream of its own and drains it with a bare consumer: JetStream's
// floor for consuming the same events.
func bare(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, a clientArgs, pids []int) error {
	const name, subject = "LOAD_BARE", "load.bare"
	_ = js.DeleteStream(ctx, name)
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject},
		Retention: jetstream.InterestPolicy, Storage: jetstream.FileStorage})
	if err != nil {
		return err
	}
	defer js.DeleteStream(context.Background(), name)
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "bare",
		AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1024})
	if err != nil {
		return err
	}
	if err := fill(ctx, nc, subject, a.n, a.size); err != nil {
		return err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { _ = m.Ack() })
	if err != nil {
		return err
	}
	defer cc.Stop()
	return report(watch(ctx, st, append(pids, os.Getpid()), a.poll))
}

// drain is what watch saw: events removed, over how long, and the CPU the
// watched processes used meanwhile.
type drain struct {
	events  uint64
	elapsed time.Duration
	cpu     time.Duration
}

// watch polls st until it is empty. The window opens at the first poll that
// finds fewer messages than the one before, so a consumer's start-up is not
// counted, and closes at the first poll that finds none; the events are those
// left when it opened.
func watch(ctx context.Context, st jetstream.Stream, pids []int, every time.Duration) (drain, error) {
	var (
		start    time.Time
		startCPU time.Duration
		first    uint64
		prev     = ^uint64(0)
	)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		info, err := st.Info(ctx)
		if err != nil {
			return drain{}, err
		}
		left := info.State.Msgs
		now := time.Now()
		if start.IsZero() && left < prev && prev != ^uint64(0) {
			start, first = now, left
			if startCPU, err = cpuTime(pids); err != nil {
				return drain{}, err
			}
		}
		if left == 0 && !start.IsZero() {
			cpu, err := cpuTime(pids)
			if err != nil {
				return drain{}, err
			}
			return drain{events: first, elapsed: now.Sub(start), cpu: cpu - startCPU}, nil
		}
		prev = left
		select {
		case <-ctx.Done():
			return drain{}, fmt.Errorf("stream %s: %d events left: %w", info.Config.Name, left, ctx.Err())
		case <-t.C:
		}
	}
}

func report(d drain, err error) error {
	if err != nil {
		return err
	}
	fmt.Printf("events=%d elapsed=%s events/s=%.0f cpu-us/event=%.1f\n", d.events, d.elapsed.Round(time.Millisecond),
		float64(d.events)/d.elapsed.Seconds(), float64(d.cpu.Microseconds())/float64(d.events))
	return nil
}

func parsePIDs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Fields(s) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("-pids: %q is not a process id", f)
		}
		out = append(out, pid)
	}
	return out, nil
}

// cpuTime is the user and system time the processes have used, from
// /proc/PID/stat (in clock ticks of 10 ms on Linux: a drain of a second or
// more keeps the rounding under 2%).
func cpuTime(pids []int) (time.Duration, error) {
	const tick = 10 * time.Millisecond
	var total time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return 0, err
		}
		// The fields after the ")" closing the command name: utime is the 12th, stime the 13th.
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
		}
		u, err1 := strconv.ParseInt(f[11], 10, 64)
		s, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("/proc/%d/stat: unreadable times", pid)
		}
		total += time.Duration(u+s) * tick
	}
	return total, nil
}
