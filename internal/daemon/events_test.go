package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/events"
	"github.com/edged/edged/internal/config"
)

// TestEventsUnserved: a file with an enqueue route is refused by Validate (and
// so by serve, which builds its routes the same way), naming the key, instead
// of being served without it; triggers, publish and [events] are accepted.
func TestEventsUnserved(t *testing.T) {
	mod, err := filepath.Abs("../../examples/guests/hello-c/hello-c.wasm")
	if err != nil {
		t.Fatal(err)
	}
	base := "[admin]\ntoken_file = \"t\"\n[functions.f]\nmodule = \"" + mod + "\"\n"
	for _, tc := range []struct {
		name, toml string
		want       []string // key paths in the error; none: accepted
	}{
		{"no events", `[[routes]]
name = "r"
path = "/"
function = "f"
stage = "retired"
`, nil},
		{"engine settings alone", "[events]\nsync = \"interval\"\n", nil},
		{"trigger", "[[triggers]]\nname = \"t\"\nfunction = \"f\"\nsubject = \"a.b\"\n", nil},
		{"publish", "[functions.g]\nmodule = \"" + mod + "\"\npublish = [\"jobs.>\"]\n", nil},
		{"enqueue", `[[triggers]]
name = "t"
function = "f"
subject = "orders"
[[routes]]
name = "in"
path = "/orders"
enqueue = "orders"
`, []string{"routes[0].enqueue"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Decode([]byte(base+tc.toml), t.TempDir())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			err = Validate(cfg)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, errEventsUnserved) {
				t.Fatalf("Validate = %v, want errEventsUnserved", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %v, want it to name %s", err, w)
				}
			}
		})
	}
}

// testdataWasm returns the absolute path of isolate/testdata/name.wasm.
func testdataWasm(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "isolate", "testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// eventsConfig is a daemon with the embedded JetStream server under dir's
// "events": trigger "ok" delivers "orders" to the C hello guest, "bad" delivers
// "fail" to a guest that traps (one retry after 10ms, then a dead letter),
// and "jobs" delivers what the publish guest on /pub publishes on "jobs.>"
// to hello. extra is appended.
func eventsConfig(t testing.TB, extra string) string {
	return fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
drain_delay = "0s"

[admin]
listen = "127.0.0.1:0"
token_file = "admin.token"

[runtime]
cache_dir = "cache"
state_dir = "state"

[events]
store_dir = "events"

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
`, helloWasm(t), testdataWasm(t, "trap"), testdataWasm(t, "publish")) + extra
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
}
