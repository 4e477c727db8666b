package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// outcome is one request of the burst.
type outcome struct {
	at  time.Duration // sent, from the start of the burst
	r   result
	err error
}

// runBurst sends back-to-back requests on o.conns connections opened
// beforehand, all starting at once, for o.duration, and reports what a cold
// function did with them.
func runBurst(ctx context.Context, o surgeOptions, w io.Writer) error {
	u, err := url.Parse(o.url)
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("-url %q: want http://127.0.0.1:PORT/path", o.url)
	}
	if err := loopbackOnly(u.Host); err != nil {
		return err
	}
	coldBefore, err := coldStarts(ctx, o.metrics, o.function)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.duration+2*o.timeout+10*time.Second)
	defer cancel()
	outs, err := sendBurst(ctx, o, u)
	if err != nil {
		return err
	}
	coldAfter, err := coldStarts(ctx, o.metrics, o.function)
	if err != nil {
		return err
	}
	t := tallyBurst(outs)
	t.write(w, o)
	if o.metrics != "" {
		fmt.Fprintf(w, "instances created (cold starts of %s): %d\n", o.function, coldAfter-coldBefore)
	}
	if t.hung > 0 || t.without503 > 0 {
		return fmt.Errorf("%d hung requests, %d 503s without Retry-After", t.hung, t.without503)
	}
	return nil
}

// sendBurst opens o.conns connections to u, then sends requests back to back
// on all of them at once for o.duration; it returns each connection's
// outcomes. A connection the server closes is dialled again.
func sendBurst(ctx context.Context, o surgeOptions, u *url.URL) ([][]outcome, error) {
	d := dialer("", o.timeout)
	clients := make([]*client, o.conns)
	for i := range clients {
		var err error
		if clients[i], err = newClient(ctx, d, u.Host, u.RequestURI()); err != nil {
			for _, c := range clients[:i] {
				c.close()
			}
			return nil, fmt.Errorf("opening connection %d: %w", i, err)
		}
	}
	go1 := make(chan struct{})
	var t0 time.Time
	outs := make([][]outcome, o.conns)
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Go(func() {
			<-go1
			for {
				at := time.Since(t0)
				if at >= o.duration || ctx.Err() != nil {
					break
				}
				r, err := cl.do(o.timeout)
				outs[i] = append(outs[i], outcome{at: at, r: r, err: err})
				if err == nil && !r.closed {
					continue
				}
				// The connection is gone: the next request needs a new one.
				cl.close()
				if cl, err = newClient(ctx, d, u.Host, u.RequestURI()); err != nil {
					outs[i] = append(outs[i], outcome{at: time.Since(t0), err: fmt.Errorf("redial: %w", err)})
					return
				}
			}
			cl.close()
		})
	}
	t0 = time.Now()
	close(go1)
	wg.Wait()
	return outs, nil
}

// burstTally is what the outcomes of a burst add up to.
type burstTally struct {
	status                    map[int]int
	errs                      map[string]int
	hung, with503, without503 int
	first, first503           time.Duration // when the first 200 and 503 were answered; -1 for never
	all, ok                   *hist         // latencies of every answer, and of the 200s
}

func tallyBurst(outs [][]outcome) burstTally {
	t := burstTally{status: map[int]int{}, errs: map[string]int{}, first: -1, first503: -1, all: newHist(), ok: newHist()}
	for _, xs := range outs {
		for _, x := range xs {
			switch {
			case errors.Is(x.err, errTimeout):
				t.hung++
			case x.err != nil:
				t.errs[errKind(x.err)]++
			default:
				t.status[x.r.status]++
				t.all.add(x.r.latency)
				done := x.at + x.r.latency
				switch x.r.status {
				case 200:
					t.ok.add(x.r.latency)
					if t.first < 0 || done < t.first {
						t.first = done
					}
				case 503:
					if x.r.retryAfter {
						t.with503++
					} else {
						t.without503++
					}
					if t.first503 < 0 || done < t.first503 {
						t.first503 = done
					}
				}
			}
		}
	}
	return t
}

// write reports the tally of a burst run with o.
func (t *burstTally) write(w io.Writer, o surgeOptions) {
	fmt.Fprintf(w, "cold burst: %d connections to %s, requests back to back for %s\n", o.conns, o.url, o.duration)
	fmt.Fprintf(w, "first 200 after %s; first 503 after %s\n", dur(t.first), dur(t.first503))
	var sts []string
	for _, s := range slices.Sorted(intKeys(t.status)) {
		sts = append(sts, fmt.Sprintf("%d: %d", s, t.status[s]))
	}
	fmt.Fprintf(w, "answers: %s; 503 with Retry-After %d, without %d; hung (no answer in %s): %d; errors: %v\n",
		strings.Join(sts, ", "), t.with503, t.without503, o.timeout, t.hung, t.errs)
	fmt.Fprintf(w, "latency, all answers: p50 %s p99 %s; 200s: p50 %s p99 %s\n",
		ms(t.all.quantile(0.5)), ms(t.all.quantile(0.99)), ms(t.ok.quantile(0.5)), ms(t.ok.quantile(0.99)))
}

func dur(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return ms(d)
}

func intKeys(m map[int]int) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// coldStarts reads edged_isolate_invocations_total{function=fn,start="cold"}
// from edged's metrics; 0 without metricsURL.
func coldStarts(ctx context.Context, metricsURL, fn string) (uint64, error) {
	if metricsURL == "" {
		return 0, nil
	}
	u, err := url.Parse(metricsURL)
	if err != nil {
		return 0, err
	}
	if err := loopbackOnly(u.Host); err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", metricsURL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	want := `edged_isolate_invocations_total{function="` + fn + `",start="cold"} `
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s has no %s", metricsURL, strings.TrimSpace(want))
}
