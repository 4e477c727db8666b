package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Process-level tests of events: real `edged serve` processes with real
// JetStream (embedded, or a nats-server process), loopback only.

// eventsWait bounds every wait for events to settle; a ceiling, not a sleep.
const eventsWait = 60 * time.Second

// eventStatus is the body of GET /v1/events/{id} (admin API).
type eventStatus struct {
	ID       string `json:"id"`
	Source   string `json:"source"`
	State    string `json:"state"`
	Triggers []struct {
		State      string `json:"state"`
		Trigger    string `json:"trigger"`
		Attempts   int    `json:"attempts"`
		Deliveries int    `json:"deliveries"`
		Status     int    `json:"status"`
		Time       string `json:"time"`
	} `json:"triggers"`
}

// enqueueProc POSTs body to the public path of e and returns the status link
// of its 202 answer.
func enqueueProc(t *testing.T, e *edgedProc, path, body string) (id, status string) {
	t.Helper()
	resp, err := http.Post(e.public+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var ans struct{ ID, Status string }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<10)).Decode(&ans); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST %s = %d, %v; want 202 with JSON", path, resp.StatusCode, err)
	}
	if ans.ID == "" || !strings.HasPrefix(ans.Status, "/v1/events/"+ans.ID+"?") {
		t.Fatalf("POST %s: 202 body id %q status %q", path, ans.ID, ans.Status)
	}
	return ans.ID, ans.Status
}

// statusOf reads an event's status link on the admin API of e.
func statusOf(t *testing.T, e *edgedProc, token, link string) eventStatus {
	t.Helper()
	code, _, body := get(t, e.admin+link, "Authorization", "Bearer "+token)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %q", link, code, body)
	}
	var st eventStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET %s: %v in %q", link, err, body)
	}
	return st
}

// waitDone polls every status link until each event is done, within
// eventsWait, and returns the final statuses in the order of links.
func waitDone(t *testing.T, e *edgedProc, token string, links []string) []eventStatus {
	t.Helper()
	out := make([]eventStatus, len(links))
	deadline := time.Now().Add(eventsWait)
	for i, link := range links {
		for {
			out[i] = statusOf(t, e, token, link)
			if out[i].State != "pending" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("event %s still pending after %v", out[i].ID, eventsWait)
			}
			time.Sleep(50 * time.Millisecond) // polling a process: no channel to wait on
		}
	}
	return out
}

// checkDoneOnce asserts that every status is done by trigger, with exactly one
// record (one trigger finished it) and a 200 from the function.
func checkDoneOnce(t *testing.T, sts []eventStatus, trigger string) {
	t.Helper()
	for _, st := range sts {
		if st.State != "done" || len(st.Triggers) != 1 || st.Triggers[0].Trigger != trigger ||
			st.Triggers[0].State != "done" || st.Triggers[0].Status != http.StatusOK || st.Triggers[0].Attempts < 1 {
			t.Errorf("event %s: %+v, want done once by %s with 200", st.ID, st, trigger)
		}
	}
}

// freeLoopbackPort returns a loopback address whose port was free a moment
// ago (for a server whose chosen port the test cannot read back).
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// jsConnect connects the test to a NATS server as a plain client.
func jsConnect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// streamState returns the state of stream name.
func streamState(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return info.State
}

// consumerInfo returns the state of the durable consumer of trigger on its
// stream EDGED_<trigger>.
func consumerInfo(t *testing.T, js jetstream.JetStream, trigger string) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, "EDGED_"+trigger, trigger)
	if err != nil {
		t.Fatalf("consumer %s: %v", trigger, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("consumer %s: %v", trigger, err)
	}
	return info
}

// recordsStream is the JetStream stream behind edged's bucket of completion
// records (one put per event a trigger finished).
const recordsStream = "KV_edged_events"

// TestEventsCrashAtLeastOnce: 30 events accepted by an enqueue route (202)
// are being processed by a guest that spins ~200ms each, two at a time, when
// the daemon is killed with SIGKILL: the fourth event is done and the last
// is pending, so the two slots are busy (the trigger holds prefetched events,
// so a slot only idles between one invocation and the next). Restarted on
// the same store_dir, the daemon processes every accepted event: each status
// link says done, with one record by the trigger.
//
// "None twice in effect" is read where it is observable, since the guest has
// no side effect the test could count: the completion records. (1) The
// records bucket's stream sequence counts every completion ever stored, so it
// must equal the number of events: an event completed before the crash whose
// ack was lost is skipped on redelivery, not completed again. (2) The record
// of each event that was done before the kill is unchanged after the restart
// (same attempts and time). (3) Attempts count runs, not deliveries: the
// events edged held unacknowledged at the kill, running or prefetched, are
// delivered again (deliveries >= 2; the test requires some, which proves
// the restart went through redelivery) and are done at attempt 1, the kill
// having used none of their retries.
func TestEventsCrashAtLeastOnce(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	natsAddr := freeLoopbackPort(t)
	cfg := daemonTOML(b) + fmt.Sprintf(`
[events]
store_dir = "events"
listen = %q

[functions.spin]
module = %q
timeout = "5s"

[[triggers]]
name = "work"
function = "spin"
subject = "work"
max_concurrency = 2
ack_timeout = "2s"

[[routes]]
name = "work"
path = "/work"
enqueue = "work"
`, natsAddr, repoPath(t, "isolate/testdata/spin.wasm"))
	cfgPath := writeFile(t, dir, "router.toml", cfg, 0o644)
	const token = "crash-token"
	writeFile(t, dir, "admin.token", token+"\n", 0o600)

	const n = 30
	e := startEdged(t, b, nil, "serve", "-config", cfgPath)
	links := make([]string, n)
	for i := range links {
		_, links[i] = enqueueProc(t, e, "/work", fmt.Sprintf(`{"n":%d}`, i))
	}
	// Kill once processing is under way and before it is over: the fourth
	// event done (events start in stream order), the last still pending.
	deadline := time.Now().Add(eventsWait)
	for statusOf(t, e, token, links[3]).State == "pending" {
		if time.Now().After(deadline) {
			t.Fatalf("fourth event not done within %v", eventsWait)
		}
		time.Sleep(20 * time.Millisecond) // polling a process: no channel to wait on
	}
	// The events done before the kill, with their records.
	doneBefore := map[string]eventStatus{}
	for _, link := range links {
		if st := statusOf(t, e, token, link); st.State != "pending" {
			doneBefore[link] = st
		}
	}
	if len(doneBefore) == n {
		t.Fatal("every event done before the kill: the guest is too fast for this test")
	}
	e.signal(t, syscall.SIGKILL)
	e.wait(t)

	e = startEdged(t, b, nil, "serve", "-config", cfgPath)
	sts := waitDone(t, e, token, links)
	checkDoneOnce(t, sts, "work")
	for i, st := range sts {
		if b, ok := doneBefore[links[i]]; ok && fmt.Sprint(b) != fmt.Sprint(st) {
			t.Errorf("event %s done before the kill: record %+v, then %+v after the restart", st.ID, b, st)
		}
	}
	again := 0
	for _, st := range sts {
		if len(st.Triggers) != 1 {
			continue // checkDoneOnce reported it
		}
		if r := st.Triggers[0]; r.Deliveries > 1 {
			again++
		}
		if r := st.Triggers[0]; r.Attempts != 1 {
			t.Errorf("event %s: attempts %d after %d deliveries, want 1: the kill used up a retry", st.ID, r.Attempts, r.Deliveries)
		}
	}
	if again == 0 {
		t.Error("no event was delivered again after the kill: it did not hit mid-processing")
	}
	js := jsConnect(t, "nats://"+natsAddr)
	if rs := streamState(t, js, recordsStream); rs.LastSeq != n {
		t.Errorf("%d completion records stored, want %d (one per event)", rs.LastSeq, n)
	}
	if ci := consumerInfo(t, js, "work"); ci.NumAckPending != 0 || ci.NumPending != 0 || ci.AckFloor.Stream != n {
		t.Errorf("consumer work: ack pending %d, pending %d, ack floor %d; want 0, 0, %d",
			ci.NumAckPending, ci.NumPending, ci.AckFloor.Stream, n)
	}
	t.Logf("%d events done before the kill, %d of %d delivered again after it", len(doneBefore), again, n)
}

// natsServerBin builds nats-server from the module go.mod requires, once per
// test run.
var natsServerBin = sync.OnceValues(func() (string, error) {
	out := filepath.Join(testBinDir, "nats-server")
	cmd := exec.Command("go", "build", "-o", out, "github.com/nats-io/nats-server/v2")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build nats-server: %v\n%s", err, b)
	}
	return out, nil
})

// startNATSServer runs nats-server with JetStream on a random loopback port
// and returns it with its client URL.
func startNATSServer(t *testing.T) (*proc, string) {
	t.Helper()
	bin, err := natsServerBin()
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, nil, bin, "-js", "-sd", t.TempDir(), "-a", "127.0.0.1", "-p", "-1")
	const listening = "Listening for client connections on "
	line, _ := p.stderr.wait(t, 0, listening)
	addr := strings.TrimSpace(line[strings.Index(line, listening)+len(listening):])
	p.stderr.wait(t, 0, "Server is ready")
	return p, "nats://" + addr
}

// TestEventsExternalNATS: with [events] url set, edged uses a nats-server
// running as another process: an enqueue route's events are processed by
// the trigger (done), and once edged has stopped the streams, the
// consumer's progress and the completion records are in that server; an
// event published there while edged is down is processed when it is back.
func TestEventsExternalNATS(t *testing.T) {
	b := needBinaries(t)
	ns, natsURL := startNATSServer(t)
	dir := t.TempDir()
	cfg := daemonTOML(b) + fmt.Sprintf(`
[events]
url = %q

[functions.hello]
module = %q

[[triggers]]
name = "orders"
function = "hello"
subject = "orders"

[[routes]]
name = "orders"
path = "/orders"
enqueue = "orders"
`, natsURL, repoPath(t, "examples/guests/hello-c/hello-c.wasm"))
	cfgPath := writeFile(t, dir, "router.toml", cfg, 0o644)
	const token = "external-token"
	writeFile(t, dir, "admin.token", token+"\n", 0o600)

	const n = 5
	e := startEdged(t, b, nil, "serve", "-config", cfgPath)
	links := make([]string, n)
	for i := range links {
		_, links[i] = enqueueProc(t, e, "/orders", fmt.Sprintf(`{"order":%d}`, i))
	}
	checkDoneOnce(t, waitDone(t, e, token, links), "orders")
	e.signal(t, syscall.SIGTERM)
	if code := e.wait(t); code != 0 {
		t.Fatalf("edged exit code %d after SIGTERM, want 0", code)
	}

	// edged is gone; the server keeps what it stored.
	js := jsConnect(t, natsURL)
	if st := streamState(t, js, "EDGED_orders"); st.LastSeq != n {
		t.Errorf("stream EDGED_orders: last sequence %d, want %d", st.LastSeq, n)
	}
	if ci := consumerInfo(t, js, "orders"); ci.AckFloor.Stream != n || ci.NumAckPending != 0 {
		t.Errorf("consumer orders: ack floor %d, ack pending %d; want %d, 0", ci.AckFloor.Stream, ci.NumAckPending, n)
	}
	if rs := streamState(t, js, recordsStream); rs.Msgs != n {
		t.Errorf("%d completion records in the external server, want %d", rs.Msgs, n)
	}
	// An event published while edged is down waits in the server.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := nats.NewMsg("orders")
	m.Header.Set("ce-id", "while-down-1")
	m.Header.Set("ce-source", "test/external")
	m.Header.Set("ce-type", "test.order")
	m.Header.Set("ce-specversion", "1.0")
	m.Header.Set(nats.MsgIdHdr, "test/external while-down-1")
	m.Data = []byte(`{"order":"late"}`)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatalf("publish while edged is down: %v", err)
	}
	if ci := consumerInfo(t, js, "orders"); ci.NumPending != 1 {
		t.Errorf("consumer orders while edged is down: %d pending, want 1", ci.NumPending)
	}
	e = startEdged(t, b, nil, "serve", "-config", cfgPath)
	checkDoneOnce(t, waitDone(t, e, token, []string{"/v1/events/while-down-1?source=test%2Fexternal"}), "orders")

	select {
	case <-ns.done:
		t.Errorf("nats-server exited: %v", ns.err)
	default:
	}
}
