package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pathReport is what one path's connections saw.
type pathReport struct {
	Requests uint64            `json:"requests"`
	Status   map[int]uint64    `json:"status"`
	Errors   map[string]uint64 `json:"errors"`
	Latency  *hist             `json:"latency"`
}

func newPathReport() *pathReport {
	return &pathReport{Status: map[int]uint64{}, Errors: map[string]uint64{}, Latency: newHist()}
}

func (p *pathReport) merge(o *pathReport) {
	p.Requests += o.Requests
	for k, v := range o.Status {
		p.Status[k] += v
	}
	for k, v := range o.Errors {
		p.Errors[k] += v
	}
	p.Latency.merge(o.Latency)
}

// clientMsg is a line a client process writes to the parent: once when its
// connections are open (Ramped), once at the end (Done) with its counts.
type clientMsg struct {
	Ramped     bool                   `json:"ramped,omitempty"`
	Done       bool                   `json:"done,omitempty"`
	Open       int64                  `json:"open"`
	Lost       int64                  `json:"lost"` // connections closed before the end
	DialErrors map[string]uint64      `json:"dial_errors,omitempty"`
	Paths      map[string]*pathReport `json:"paths,omitempty"`
}

// runClient is one client process: o.conns connections, numbered from
// o.first, dialled evenly over o.ramp from o.start.
func runClient(ctx context.Context, o surgeOptions, w io.Writer) error {
	if err := loopbackOnly(o.addr); err != nil {
		return err
	}
	paths := splitPaths(o.paths)
	if len(paths) == 0 {
		return errors.New("-paths is empty")
	}
	start := time.Unix(0, o.start)
	end := start.Add(o.ramp + o.hold)
	ctx, cancel := context.WithDeadline(ctx, end.Add(o.timeout+5*time.Second))
	defer cancel()

	run := &clientRun{o: o, end: end, reports: map[string]*pathReport{}, dialErrs: map[string]uint64{}}
	for _, p := range paths {
		run.reports[p] = newPathReport()
	}
	var dialled, all sync.WaitGroup
	dialled.Add(o.conns)
	for k := range o.conns {
		i := o.first + k
		path := paths[i%len(paths)]
		at := start.Add(time.Duration(int64(o.ramp) * int64(k) / int64(max(o.conns, 1))))
		all.Go(func() { run.conn(ctx, i, path, at, &dialled) })
	}
	enc := json.NewEncoder(w)
	dialled.Wait()
	run.mu.Lock()
	err := enc.Encode(clientMsg{Ramped: true, Open: run.open.Load(), DialErrors: maps(run.dialErrs)})
	run.mu.Unlock()
	if err != nil {
		return err
	}
	all.Wait()
	return enc.Encode(clientMsg{Done: true, Open: run.open.Load(), Lost: run.lost.Load(), DialErrors: run.dialErrs, Paths: run.reports})
}

// clientRun is what the connections of a client process share.
type clientRun struct {
	o   surgeOptions
	end time.Time // of the hold: connections stay open until then

	mu         sync.Mutex // guards reports and dialErrs
	reports    map[string]*pathReport
	dialErrs   map[string]uint64
	open, lost atomic.Int64
}

// conn is connection i: dialled at at, then one request on path every
// interval until the end; dialled is told once the dial is over.
func (c *clientRun) conn(ctx context.Context, i int, path string, at time.Time, dialled *sync.WaitGroup) {
	o := c.o
	if !sleepUntil(ctx, at) {
		dialled.Done()
		return
	}
	cl, err := newClient(ctx, dialer(sourceAddr(i, o.perSource), o.timeout), o.addr, path)
	dialled.Done()
	if err != nil {
		c.mu.Lock()
		c.dialErrs[errKind(err)]++
		c.mu.Unlock()
		return
	}
	defer cl.close()
	c.open.Add(1)
	// The first request at a random phase after the connection opens,
	// within the interval or the ramp, whichever is shorter (and well
	// within edged's read_timeout, which closes a new connection that
	// sends nothing), then one every interval: the ramp does not come
	// with a burst of requests, and the load is spread over time.
	next := time.Now().Add(rand.N(max(min(o.interval, o.ramp), time.Millisecond)))
	for n := 0; ; n++ {
		if n > 0 {
			next = next.Add(o.interval)
		}
		if next.After(c.end) || !sleepUntil(ctx, next) {
			break
		}
		r, err := cl.do(o.timeout)
		c.mu.Lock()
		rep := c.reports[path]
		rep.Requests++
		if err != nil {
			rep.Errors[errKind(err)]++
		} else {
			rep.Status[r.status]++
			rep.Latency.add(r.latency)
		}
		c.mu.Unlock()
		if err != nil || r.closed {
			c.open.Add(-1)
			c.lost.Add(1)
			return
		}
	}
	sleepUntil(ctx, c.end) // idle, open, until the end
}

func maps(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sleepUntil waits for t or ctx; it reports whether t came first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// runSurge is the parent of the connection surge: it starts o.procs client
// processes, samples edged's RSS and open files while their connections are
// open, and prints the sums.
func runSurge(ctx context.Context, o surgeOptions) error {
	if err := loopbackOnly(o.addr); err != nil {
		return err
	}
	if o.procs < 1 || o.conns < o.procs {
		return fmt.Errorf("-procs %d, -conns %d: want 1 <= procs <= conns", o.procs, o.conns)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	rssBefore, fdsBefore := procRSS(o.pid), procFDs(o.pid)
	// Half a second for the clients to start before the ramp begins.
	start := time.Now().Add(500 * time.Millisecond)
	end := start.Add(o.ramp + o.hold)
	ctx, cancel := context.WithDeadline(ctx, end.Add(o.timeout+10*time.Second))
	defer cancel()

	cmds, msgs, err := startClients(ctx, o, exe, start)
	if err != nil {
		return err
	}
	t := surgeTally{dialErrs: map[string]uint64{}, paths: map[string]*pathReport{}}
	// From one interval after the ramp (every connection has sent its first
	// request and is idle between requests) to the end, sample edged.
	sample := time.NewTicker(500 * time.Millisecond)
	defer sample.Stop()
	settled := start.Add(o.ramp + o.interval)
	for msgs != nil {
		select {
		case m, ok := <-msgs:
			if !ok {
				msgs = nil
				break
			}
			t.add(m, len(cmds), start)
		case now := <-sample.C:
			if now.After(settled) && now.Before(end.Add(-time.Second)) {
				t.rss = append(t.rss, procRSS(o.pid))
				t.fdsPeak = max(t.fdsPeak, procFDs(o.pid))
			}
		}
	}
	var waitErr error
	for _, c := range cmds {
		waitErr = errors.Join(waitErr, c.Wait())
	}
	if t.done != len(cmds) {
		return fmt.Errorf("%d of %d client processes reported: %w", t.done, len(cmds), waitErr)
	}
	t.print(o, len(cmds), rssBefore, fdsBefore)
	return nil
}

// startClients starts the client processes of the surge, o.conns connections
// shared between o.procs of them, and returns them with the channel of their
// messages, closed once every one has closed its output.
func startClients(ctx context.Context, o surgeOptions, exe string, start time.Time) ([]*exec.Cmd, chan clientMsg, error) {
	msgs := make(chan clientMsg, 2*o.procs)
	var procs sync.WaitGroup
	var cmds []*exec.Cmd
	per := (o.conns + o.procs - 1) / o.procs
	for p := range o.procs {
		n := min(per, o.conns-p*per)
		if n <= 0 {
			break
		}
		cmd := exec.CommandContext(ctx, exe, "-mode", "client", "-addr", o.addr, "-paths", o.paths,
			"-conns", strconv.Itoa(n), "-first", strconv.Itoa(p*per), "-ramp", o.ramp.String(),
			"-interval", o.interval.String(), "-hold", o.hold.String(), "-timeout", o.timeout.String(),
			"-per-source", strconv.Itoa(o.perSource), "-start", strconv.FormatInt(start.UnixNano(), 10))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		cmds = append(cmds, cmd)
		procs.Go(func() {
			sc := bufio.NewScanner(out)
			sc.Buffer(nil, 16<<20)
			for sc.Scan() {
				var m clientMsg
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					fmt.Fprintln(os.Stderr, "surge: a client wrote", sc.Text())
					continue
				}
				msgs <- m
			}
		})
	}
	go func() { procs.Wait(); close(msgs) }()
	return cmds, msgs, nil
}

// surgeTally sums the client processes' messages and edged's samples.
type surgeTally struct {
	ramped, done int
	open, lost   int64
	rampTook     time.Duration // from the start until every process had dialled
	dialErrs     map[string]uint64
	paths        map[string]*pathReport
	rss          []int64 // samples of edged's RSS with the connections open
	fdsPeak      int
}

// add counts the message m of one of procs client processes.
func (t *surgeTally) add(m clientMsg, procs int, start time.Time) {
	switch {
	case m.Ramped:
		t.ramped++
		t.open += m.Open
		if t.ramped == procs {
			t.rampTook = time.Since(start)
		}
	case m.Done:
		t.done++
		t.lost += m.Lost
		for k, v := range m.DialErrors {
			t.dialErrs[k] += v
		}
		for p, r := range m.Paths {
			if t.paths[p] == nil {
				t.paths[p] = newPathReport()
			}
			t.paths[p].merge(r)
		}
	}
}

// print reports the surge: connections, edged's memory and files against
// rssBefore and fdsBefore, and each path's answers.
func (t *surgeTally) print(o surgeOptions, procs int, rssBefore int64, fdsBefore int) {
	fmt.Printf("connection surge: %d connections from %d processes to %s, ramp %s, a request every %s per connection, held %s\n",
		o.conns, procs, o.addr, o.ramp, o.interval, o.hold)
	fmt.Printf("open after the ramp: %d (all dialled after %.1fs); dial errors: %s; closed early: %d\n",
		t.open, t.rampTook.Seconds(), kinds(t.dialErrs), t.lost)
	if o.pid > 0 && len(t.rss) > 0 {
		rss := t.rss
		slices.Sort(rss)
		med := rss[len(rss)/2]
		fmt.Printf("edged RSS: %.1f MiB before, %.1f MiB with the connections open (median of %d samples, max %.1f MiB); open files %d -> %d\n",
			mib(rssBefore), mib(med), len(rss), mib(rss[len(rss)-1]), fdsBefore, t.fdsPeak)
		if t.open > 0 {
			fmt.Printf("edged RSS per connection: %.1f KiB\n", float64(med-rssBefore)/1024/float64(t.open))
		}
		fmt.Printf("edged RSS after the clients left: %.1f MiB\n", mib(procRSS(o.pid)))
	}
	fmt.Printf("%-10s %10s %10s %10s %10s %10s  %s\n", "path", "requests", "200", "errors", "p50", "p99", "other statuses, errors")
	total := newPathReport()
	names := slices.Sorted(mapKeys(t.paths))
	for _, p := range names {
		printPath(p, t.paths[p])
		total.merge(t.paths[p])
	}
	printPath("all", total)
}

func printPath(name string, r *pathReport) {
	var errs uint64
	var notes []string
	for k, v := range r.Errors {
		errs += v
		notes = append(notes, fmt.Sprintf("%s %d", k, v))
	}
	for s, v := range r.Status {
		if s != 200 {
			errs += v
			notes = append(notes, fmt.Sprintf("status %d: %d", s, v))
		}
	}
	slices.Sort(notes)
	fmt.Printf("%-10s %10d %10d %10d %10s %10s  %s\n", name, r.Requests, r.Status[200], errs,
		ms(r.Latency.quantile(0.5)), ms(r.Latency.quantile(0.99)), strings.Join(notes, ", "))
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func kinds(m map[string]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s %d", k, v))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// procRSS returns the resident set of process pid in bytes (VmRSS), 0 if
// unknown.
func procRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// procFDs returns how many files process pid has open, 0 if unknown.
func procFDs(pid int) int {
	if pid <= 0 {
		return 0
	}
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}
