// Command surge drives a running edged over loopback to measure what
// docs/performance.md reports under "Surge": a connection surge and a cold
// burst. scripts/surge.sh starts edged and the example monolith and runs both.
//
// Connection surge (-mode conns): several client processes (copies of this
// command in -mode client) open -conns keep-alive connections between them
// within -ramp, from loopback source addresses 127.0.0.2 and up when one
// address would run out of ports; each connection sends a GET for one of
// -paths every -interval (the first at a random phase) until -hold
// has passed after the ramp. It reports errors by kind, p50/p99 per path, and
// the RSS of the edged process -pid before the surge and while the
// connections are open, hence RSS per idle connection.
//
//	surge -mode conns -addr 127.0.0.1:8080 -pid PID -conns 50000 -procs 4 \
//	      -paths /hello,/fast -ramp 4s -interval 5s -hold 20s
//
// Cold burst (-mode burst): -conns connections are opened first, then all send
// requests back to back to -url for -duration, starting at the same instant,
// against a function with no instance yet. It reports the time to the first
// answer, p50/p99 of the requests started in that window, status counts, how
// many 503s carried Retry-After, and how many requests got no answer within
// -timeout (hung); with -metrics and -function, the instances created.
//
//	surge -mode burst -url http://127.0.0.1:8080/cold -conns 256 -duration 1s
//
// Traffic goes to loopback addresses only; every phase is bounded in time.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	mode := flag.String("mode", "conns", `"conns" (the connection surge), "burst" (the cold burst), or "client" (one process of the surge, started by -mode conns)`)
	var o surgeOptions
	flag.StringVar(&o.addr, "addr", "127.0.0.1:8080", "edged's public listener (loopback)")
	flag.IntVar(&o.pid, "pid", 0, "edged's process id, for its RSS and open files")
	flag.IntVar(&o.conns, "conns", 50_000, "connections in all (conns); concurrent clients (burst)")
	flag.IntVar(&o.procs, "procs", 4, "client processes (conns)")
	flag.StringVar(&o.paths, "paths", "/hello,/fast", "comma-separated paths; connection i asks for path i mod len (conns)")
	flag.DurationVar(&o.ramp, "ramp", 4*time.Second, "time to open every connection (conns)")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "time between two requests of a connection (conns)")
	flag.DurationVar(&o.hold, "hold", 20*time.Second, "how long the connections stay after the ramp (conns)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "a request without an answer this long counts as hung")
	flag.IntVar(&o.perSource, "per-source", 25_000, "connections per loopback source address (conns); 28,000 ephemeral ports per address")
	flag.StringVar(&o.url, "url", "", "the URL of the burst (burst)")
	flag.DurationVar(&o.duration, "duration", time.Second, "the burst's window (burst)")
	flag.StringVar(&o.metrics, "metrics", "", "edged's /metrics URL, to count the instances the burst created (burst)")
	flag.StringVar(&o.function, "function", "", "the function behind -url, for -metrics (burst)")
	// Set by -mode conns for its clients.
	flag.IntVar(&o.first, "first", 0, "index of this client's first connection (client)")
	flag.Int64Var(&o.start, "start", 0, "Unix time in ns at which the ramp starts (client)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch *mode {
	case "conns":
		err = runSurge(ctx, o)
	case "client":
		err = runClient(ctx, o, os.Stdout)
	case "burst":
		err = runBurst(ctx, o, os.Stdout)
	default:
		err = fmt.Errorf("-mode %q: want conns, burst or client", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "surge:", err)
		os.Exit(1)
	}
}

// surgeOptions are the flags.
type surgeOptions struct {
	addr, paths, url, metrics, function string
	pid, conns, procs, perSource, first int
	ramp, interval, hold, timeout       time.Duration
	duration                            time.Duration
	start                               int64
}

// loopbackOnly refuses an address that is not a loopback IP: the tool opens
// tens of thousands of connections and must never aim them elsewhere.
func loopbackOnly(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: only loopback IP addresses are allowed", hostport)
	}
	return nil
}

// sourceAddr returns the loopback source address of connection i: 127.0.0.2
// for the first perSource connections, 127.0.0.3 for the next, and so on
// (all of 127.0.0.0/8 is local on Linux, no alias needed).
func sourceAddr(i, perSource int) string {
	n := 2 + i/max(perSource, 1)
	return fmt.Sprintf("127.0.%d.%d", n/256, n%256)
}

func splitPaths(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
