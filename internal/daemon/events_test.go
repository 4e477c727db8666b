package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/events"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/isolate"
)

// TestEventsAccepted: Validate (and so serve) accepts every part of a file
// that uses events, now that the daemon runs them: [events], triggers, guest
// publish and enqueue routes.
func TestEventsAccepted(t *testing.T) {
	mod, err := filepath.Abs("../../examples/guests/hello-c/hello-c.wasm")
	if err != nil {
		t.Fatal(err)
	}
	base := "[admin]\ntoken_file = \"t\"\n[functions.f]\nmodule = \"" + mod + "\"\n"
	for _, tc := range []struct{ name, toml string }{
		{"engine settings alone", "[events]\nsync = \"interval\"\n"},
		{"trigger", "[[triggers]]\nname = \"t\"\nfunction = \"f\"\nsubject = \"a.b\"\n"},
		{"publish", "[functions.g]\nmodule = \"" + mod + "\"\npublish = [\"jobs.>\"]\n"},
		{"enqueue", `[[triggers]]
name = "t"
function = "f"
subject = "orders"
[[routes]]
name = "in"
path = "/orders"
enqueue = "orders"
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Decode([]byte(base+tc.toml), t.TempDir())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if err := Validate(cfg); err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
		})
	}
}

// eventsConfig is a daemon with the embedded JetStream server under dir's
// "events": trigger "ok" delivers "orders" to the C hello guest, "bad" delivers
// "fail" to a guest that traps (one retry after 10ms, then a dead letter),
// and "jobs" delivers what the publish guest on /pub publishes on "jobs.>"
// to hello. extra is appended.
func eventsConfig(t testing.TB, extra string) string {
	return routerTOML{Events: `store_dir = "events"`, Body: fmt.Sprintf(`
[functions.hello]
module = %[1]q

[functions.trap]
module = %[2]q

[functions.pub]
module = %[3]q
publish = ["jobs.>"]

[[triggers]]
name = "ok"
function = "hello"
subject = "orders"

[[triggers]]
name = "bad"
function = "trap"
subject = "fail"
max_retries = 1
backoff = "10ms"

[[triggers]]
name = "jobs"
function = "hello"
subject = "jobs.>"
dead_letter = "deadjobs"

[[routes]]
name = "pub"
path = "/pub"
stage = "retired"
function = "pub"

[[routes]]
name = "orders"
path = "/orders"
enqueue = "orders"

[[routes]]
name = "fail"
path = "/fail"
enqueue = "fail"
`, helloWasm(t), testdataWasm(t, "trap"), testdataWasm(t, "publish")) + extra}.String()
}

// waitRecord polls the events engine until the event source+id has a record,
// and returns it; bounded by a deadline, not a fixed sleep count.
func waitRecord(t *testing.T, srv *events.Server, source, id string) events.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		recs, err := srv.Status(ctx, source, id)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if len(recs) > 0 {
			return recs[0]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("event %s %s: no record within the deadline", source, id)
		case <-tick.C:
		}
	}
}

// TestTriggersRun: the daemon starts the embedded engine and its triggers; an
// event on "orders" is processed by the C guest (done, one attempt), one on
// "fail" traps, is retried once and ends dead-lettered, and a guest's
// edged.publish on an allowed subject reaches the trigger listening there.
func TestTriggersRun(t *testing.T) {
	d, _ := startDaemon(t, eventsConfig(t, ""))
	srv := d.env.events
	if srv == nil {
		t.Fatal("events engine not started")
	}
	ctx := context.Background()

	t.Run("done", func(t *testing.T) {
		id, err := srv.Publish(ctx, "orders", "test.order", []byte(`{"n":1}`))
		if err != nil {
			t.Fatal(err)
		}
		r := waitRecord(t, srv, events.DefaultSource, id)
		if r.State != events.StateDone || r.Trigger != "ok" || r.Status != http.StatusOK || r.Attempts != 1 {
			t.Errorf("record = %+v, want done by ok with 200 at the first attempt", r)
		}
	})
	t.Run("dead-lettered", func(t *testing.T) {
		id, err := srv.Publish(ctx, "fail", "test.fail", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		r := waitRecord(t, srv, events.DefaultSource, id)
		if r.State != events.StateDead || r.Trigger != "bad" || r.Attempts != 2 || !strings.Contains(r.Error, "trap") {
			t.Errorf("record = %+v, want dead-lettered by bad after 2 attempts with a trap", r)
		}
		dl, err := srv.DeadLetters(ctx, "bad")
		if err != nil || len(dl) != 1 {
			t.Fatalf("DeadLetters = %d, %v; want 1", len(dl), err)
		}
	})
	t.Run("guest publish", func(t *testing.T) {
		for _, tc := range []struct {
			subject, want string
		}{
			{"jobs.a", "0"}, // allowed: stored, delivered to "jobs"
			{"orders", "-"}, // not in publish: refused (an error code)
		} {
			req, _ := http.NewRequest(http.MethodPost, d.PublicURL()+"/pub", strings.NewReader("job"))
			req.Header.Set("x-subject", tc.subject)
			req.Header.Set("x-type", "test.job")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var b [64]byte
			n, _ := resp.Body.Read(b[:])
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(string(b[:n]), tc.want) {
				t.Fatalf("POST /pub %s = %d %q, want 200 %q", tc.subject, resp.StatusCode, b[:n], tc.want)
			}
		}
		cons, err := srv.JetStream().Consumer(ctx, "EDGED_jobs", "jobs")
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			info, err := cons.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.AckFloor.Consumer == 1 && info.NumAckPending == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("jobs consumer: %+v, want one event acknowledged", info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		// What the subtests above did, per trigger, as the admin API's
		// /metrics shows it. Acks follow the records, so poll until the
		// scrape has them all, bounded.
		want := []string{
			`edged_events_delivered_total{trigger="ok"} 1`,
			`edged_events_acked_total{trigger="ok"} 1`,
			`edged_events_retried_total{trigger="ok"} 0`,
			`edged_events_processing_seconds_count{trigger="ok"} 1`,
			`edged_events_delivered_total{trigger="bad"} 2`,
			`edged_events_retried_total{trigger="bad"} 1`,
			`edged_events_acked_total{trigger="bad"} 0`,
			`edged_events_dead_lettered_total{reason="retries",trigger="bad"} 1`,
			`edged_events_dead_lettered_total{reason="function",trigger="bad"} 0`,
			`edged_events_processing_seconds_count{trigger="bad"} 2`,
			`edged_events_acked_total{trigger="jobs"} 1`,
			`edged_events_consumer_lag{trigger="ok"} 0`,
			`edged_events_consumer_lag{trigger="jobs"} 0`,
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			body := scrape(t, d)
			var missing []string
			for _, w := range want {
				if !strings.Contains(body, "\n"+w+"\n") {
					missing = append(missing, w)
				}
			}
			if len(missing) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/metrics lacks %q:\n%s", missing, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// enqueue POSTs body to the daemon's path with hdr and returns the 202
// answer's id and status path.
func enqueue(t *testing.T, d *Daemon, path, body string, hdr ...string) (id, status string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.PublicURL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct{ ID, Status string }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<10)).Decode(&ans); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST %s = %d, %v; want 202 with JSON", path, resp.StatusCode, err)
	}
	return ans.ID, ans.Status
}

// TestEnqueueRoutes: a request to an enqueue route is answered 202 and
// processed by the trigger on its subject (the C guest: done), or, on a
// subject whose function traps, dead-lettered after its retry; the same
// Idempotency-Key gives the same event, processed once.
func TestEnqueueRoutes(t *testing.T) {
	d, _ := startDaemon(t, eventsConfig(t, ""))
	srv := d.env.events
	for _, tc := range []struct {
		name, path string
		want       string
		trigger    string
	}{
		{"done", "/orders", events.StateDone, "ok"},
		{"dead-lettered", "/fail", events.StateDead, "bad"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, status := enqueue(t, d, tc.path, `{"order":1}`, "Content-Type", "application/json")
			source := "edged/routes" + tc.path
			if !strings.HasPrefix(status, "/v1/events/"+id+"?source=") {
				t.Errorf("status = %q, want /v1/events/%s?source=...", status, id)
			}
			r := waitRecord(t, srv, source, id)
			if r.State != tc.want || r.Trigger != tc.trigger {
				t.Errorf("record = %+v, want %s by %s", r, tc.want, tc.trigger)
			}
			// The status link of the 202, on the admin API.
			code, b := adminDo(t, d, http.MethodGet, status)
			var st struct{ ID, Source, State string }
			if err := json.Unmarshal(b, &st); err != nil || code != 200 {
				t.Fatalf("GET %s = %d, %v", status, code, err)
			}
			if st.ID != id || st.Source != source || st.State != tc.want {
				t.Errorf("GET %s = %+v, want %s", status, st, tc.want)
			}
		})
	}
	t.Run("idempotency key", func(t *testing.T) {
		id1, _ := enqueue(t, d, "/orders", "a", "Idempotency-Key", "order-7")
		id2, _ := enqueue(t, d, "/orders", "a", "Idempotency-Key", "order-7")
		if id1 != id2 {
			t.Fatalf("ids %s, %s: want the same for one key", id1, id2)
		}
		if r := waitRecord(t, srv, "edged/routes/orders", id1); r.Attempts != 1 || r.State != events.StateDone {
			t.Errorf("record = %+v, want done once", r)
		}
		info, err := srv.JetStream().Stream(context.Background(), "EDGED_ok")
		if err != nil {
			t.Fatal(err)
		}
		si, err := info.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// done, idempotency key (once) and none else on "orders" in this test.
		if si.State.LastSeq != 2 {
			t.Errorf("stream EDGED_ok holds %d messages, want 2 (the duplicate stored once)", si.State.LastSeq)
		}
	})
}

// TestReloadEvents: the engine starts with the daemon. A reload that adds
// events to a file started without any is refused (the running configuration
// stays); one that edits a trigger is applied to the rest of the file, and the
// running trigger keeps delivering.
func TestReloadEvents(t *testing.T) {
	t.Run("added", func(t *testing.T) {
		d, path := startDaemon(t, testConfig(helloWasm(t), false))
		next := testConfig(helloWasm(t), false) + "\n[[triggers]]\nname = \"t\"\nfunction = \"hello\"\nsubject = \"x\"\n"
		if err := os.WriteFile(path, []byte(next), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := d.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "restart") {
			t.Fatalf("Reload(adds a trigger) = %v, want an error asking for a restart", err)
		}
		if len(d.config().Triggers) != 0 {
			t.Error("the refused file was applied")
		}
	})
	t.Run("trigger edited", func(t *testing.T) {
		d, path := startDaemon(t, eventsConfig(t, ""))
		edited := strings.Replace(eventsConfig(t, ""), "max_retries = 1", "max_retries = 5", 1)
		if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := d.Reload(context.Background()); err != nil {
			t.Fatalf("Reload(trigger edited) = %v, want nil", err)
		}
		id, _ := enqueue(t, d, "/orders", "after reload")
		if r := waitRecord(t, d.env.events, "edged/routes/orders", id); r.State != events.StateDone {
			t.Errorf("record after reload = %+v, want done", r)
		}
	})
}

// TestGuestPublishTrace: an event a guest publishes while it handles a
// request carries the request's trace, with the span handling the guest
// (not the client's) as parent, so the trigger's consumer span joins the
// request's trace. Read on the NATS subject itself, as the trigger gets it.
func TestGuestPublishTrace(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		client  = "00f067aa0ba902b7"
	)
	d, _ := startDaemon(t, eventsConfig(t, ""))
	nc := d.env.events.JetStream().Conn()
	watch, err := nc.SubscribeSync("jobs.traced")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = watch.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, d.PublicURL()+"/pub", strings.NewReader("job"))
	req.Header.Set("x-subject", "jobs.traced")
	req.Header.Set("x-type", "test.job")
	req.Header.Set("traceparent", "00-"+traceID+"-"+client+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /pub = %d, want 200", resp.StatusCode)
	}
	m, err := watch.NextMsg(30 * time.Second)
	if err != nil {
		t.Fatalf("no event on jobs.traced: %v", err)
	}
	tp := m.Header.Get("traceparent")
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[1] != traceID || parts[2] == client || len(parts[2]) != 16 || parts[3] != "01" {
		t.Errorf("published event's traceparent = %q, want trace %s, sampled, under edged's span (not the client's %s)", tp, traceID, client)
	}
}

// TestCloudEventRequest: the event's data becomes the guest's body whether or
// not its length is stated, a body over the function's cap is refused with
// isolate.ErrBodyTooLarge, and a reused Request keeps nothing of the last one.
func TestCloudEventRequest(t *testing.T) {
	const maxBody = 8
	tests := []struct {
		name    string
		data    string
		length  int64 // ContentLength; -1 when unknown
		want    string
		wantErr error // nil, or what errors.Is must match
		anyErr  bool
	}{
		{"stated", "hello", 5, "hello", nil, false},
		{"unknown length", "hello", -1, "hello", nil, false},
		{"empty", "", 0, "", nil, false},
		{"at the cap", "12345678", 8, "12345678", nil, false},
		{"stated over the cap", "123456789", 9, "", isolate.ErrBodyTooLarge, true},
		{"unknown over the cap", "123456789", -1, "", isolate.ErrBodyTooLarge, true},
		{"longer than stated", "hello", 3, "", nil, true},
		{"shorter than stated", "hi", 5, "", nil, true},
	}
	var dst isolate.Request
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst.Reset()
			dst.Body = append(dst.Body, "stale data"...) // left by a past event
			dst.Body = dst.Body[:0]
			r, err := http.NewRequest(http.MethodPost, "/", io.NopCloser(strings.NewReader(tc.data)))
			if err != nil {
				t.Fatal(err)
			}
			r.ContentLength = tc.length
			r.Header.Set("Ce-Id", "1")
			err = cloudEventRequest(&dst, r, maxBody)
			if tc.anyErr {
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(dst.Body) != tc.want || string(dst.Method) != "POST" || string(dst.URI) != "/" {
				t.Errorf("request = %s %s body %q, want POST / body %q", dst.Method, dst.URI, dst.Body, tc.want)
			}
			if dst.Header.Len() != 1 {
				t.Errorf("%d header fields, want 1", dst.Header.Len())
			}
		})
	}
}
