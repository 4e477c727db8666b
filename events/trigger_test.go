package events

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const testTrace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestAckOn2xx(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), Options{})
	rec := newRecorder(nil)
	sub, err := s.Subscribe(ctx, Trigger{Name: "orders", Subject: "orders"}, rec)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := Event{ID: "e1", Source: "shop", Type: "order.created", Time: when, ContentType: "application/json",
		TraceParent: testTrace, Data: []byte(`{"n":1}`)}
	if err := s.PublishEvent(ctx, "orders", &ev); err != nil {
		t.Fatal(err)
	}
	c := rec.next(t)
	want := call{id: "e1", source: "shop", typ: "order.created", specVersion: "1.0", time: when.Format(time.RFC3339Nano),
		traceParent: testTrace, contentType: "application/json", method: http.MethodPost, body: `{"n":1}`}
	if c != want {
		t.Errorf("request = %+v, want %+v", c, want)
	}
	eventually(t, "event acked", settled(t, sub))
	recs, err := s.Status(ctx, "shop", "e1")
	if err != nil || len(recs) != 1 || recs[0].State != StateDone || recs[0].Trigger != "orders" || recs[0].Attempts != 1 {
		t.Errorf("Status = %+v, %v, want one done record of orders after 1 attempt", recs, err)
	}
	if recs, _ := s.Status(ctx, "shop", "other"); len(recs) != 0 {
		t.Errorf("Status(unknown) = %+v, want none", recs)
	}
}

func TestRetryThenDeadLetter(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		err        error
		wantStatus int
		wantErr    string
	}{
		{"5xx", http.StatusServiceUnavailable, nil, 503, ""},
		{"trap", 0, errors.New("wasm trap: unreachable"), 0, "wasm trap: unreachable"},
		{"4xx is retried too", http.StatusNotFound, nil, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, t.TempDir(), Options{})
			var attempts []int
			rec := newRecorder(func(c call, n int) (int, http.Header, error) {
				attempts = append(attempts, n) // calls of one event are sequential
				return tc.status, nil, tc.err
			})
			sub, err := s.Subscribe(ctx, Trigger{Name: "jobs", Subject: "jobs", MaxRetries: 2,
				Backoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PublishEvent(ctx, "jobs", &Event{ID: "j1", Type: "job", TraceParent: testTrace}); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				rec.next(t)
			}
			eventually(t, "event settled", settled(t, sub))
			dls, err := sub.DeadLetters(ctx)
			if err != nil || len(dls) != 1 {
				t.Fatalf("DeadLetters = %+v, %v, want 1", dls, err)
			}
			d := dls[0]
			if d.ID != "j1" || d.Attempts != 3 || d.LastStatus != tc.wantStatus || d.LastError != tc.wantErr ||
				d.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || d.Subject != "jobs" || !strings.Contains(d.Reason, "3 attempts") {
				t.Errorf("dead letter = %+v", d)
			}
			if got := fmt.Sprint(attempts); got != "[1 2 3]" {
				t.Errorf("attempts = %s, want [1 2 3]", got)
			}
			if n := rec.count("j1"); n != 3 {
				t.Errorf("invocations = %d, want 3 (1 + max_retries)", n)
			}
			recs, _ := s.Status(ctx, DefaultSource, "j1")
			if len(recs) != 1 || recs[0].State != StateDead {
				t.Errorf("Status = %+v, want dead-lettered", recs)
			}
		})
	}
}

func TestDeadLetterNow(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     http.Header
		wantReason string
	}{
		{"status 422", StatusDeadLetter, nil, "function answered 422"},
		{"header", http.StatusOK, http.Header{HeaderDeadLetter: {"unknown customer\r\nX: y"}}, "function: unknown customer??X: y"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, t.TempDir(), Options{})
			rec := newRecorder(func(call, int) (int, http.Header, error) { return tc.status, tc.header, nil })
			sub, err := s.Subscribe(ctx, Trigger{Name: "jobs", Subject: "jobs", Backoff: 10 * time.Millisecond}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Publish(ctx, "jobs", "job", nil); err != nil {
				t.Fatal(err)
			}
			c := rec.next(t)
			eventually(t, "event settled", settled(t, sub))
			dls, _ := sub.DeadLetters(ctx)
			if len(dls) != 1 || dls[0].Attempts != 1 || dls[0].Reason != tc.wantReason || dls[0].LastStatus != tc.status {
				t.Fatalf("DeadLetters = %+v, want one after 1 attempt with reason %q", dls, tc.wantReason)
			}
			if n := rec.count(c.id); n != 1 {
				t.Errorf("invocations = %d, want 1: retries must not be burnt", n)
			}
		})
	}
}

func TestRedrive(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), Options{})
	// Each event fails for good on its first delivery and succeeds after.
	rec := newRecorder(func(c call, n int) (int, http.Header, error) {
		if n == 1 {
			return StatusDeadLetter, nil, nil
		}
		return http.StatusOK, nil, nil
	})
	sub, err := s.Subscribe(ctx, Trigger{Name: "jobs", Subject: "jobs"}, rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := s.PublishEvent(ctx, "jobs", &Event{ID: id, Type: "job", Data: []byte(id)}); err != nil {
			t.Fatal(err)
		}
		rec.next(t)
	}
	eventually(t, "three dead letters", func() bool { d, _ := sub.DeadLetters(ctx); return len(d) == 3 })

	if err := s.Redrive(ctx, "jobs", "b"); err != nil {
		t.Fatalf("Redrive(b): %v", err)
	}
	if c := rec.next(t); c.id != "b" || c.body != "b" {
		t.Errorf("redriven call = %+v, want b with its data", c)
	}
	eventually(t, "redriven event acked", settled(t, sub))
	if err := s.Redrive(ctx, "jobs", "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Redrive(b) again = %v, want ErrNotFound", err)
	}
	recs, _ := s.Status(ctx, DefaultSource, "b")
	if len(recs) != 1 || recs[0].State != StateDone {
		t.Errorf("Status(b) = %+v, want done", recs)
	}

	n, err := s.RedriveAll(ctx, "jobs")
	if err != nil || n != 2 {
		t.Fatalf("RedriveAll = %d, %v, want 2", n, err)
	}
	got := map[string]bool{}
	for range 2 {
		got[rec.next(t).id] = true
	}
	if !got["a"] || !got["c"] {
		t.Errorf("redriven = %v, want a and c", got)
	}
	eventually(t, "all acked", settled(t, sub))
	if d, _ := sub.DeadLetters(ctx); len(d) != 0 {
		t.Errorf("DeadLetters after redrive = %+v, want none", d)
	}
	if _, err := s.DeadLetters(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeadLetters(unknown trigger) = %v, want ErrNotFound", err)
	}
}

func TestOrderingByKey(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), Options{})
	const perKey = 15
	keys := []string{"k1", "k2", "k3"}
	var (
		mu       sync.Mutex
		inFlight = map[string]int{}
		order    = map[string][]string{}
		overlap  bool
	)
	// The first event of k1 and of k2 wait for each other: only concurrency
	// across keys lets both finish.
	firstK1, firstK2 := make(chan struct{}), make(chan struct{})
	rec := newRecorder(func(c call, n int) (int, http.Header, error) {
		mu.Lock()
		inFlight[c.key]++
		if inFlight[c.key] > 1 {
			overlap = true
		}
		mu.Unlock()
		defer func() { mu.Lock(); inFlight[c.key]--; mu.Unlock() }()
		switch c.id {
		case "k1-0":
			close(firstK1)
			select {
			case <-firstK2:
			case <-time.After(waitLimit):
				return 0, nil, errors.New("k2 never ran alongside k1")
			}
		case "k2-0":
			close(firstK2)
			<-firstK1
		}
		if strings.HasSuffix(c.id, "3") && n == 1 {
			return http.StatusInternalServerError, nil, nil // retried in place, ahead of the rest of its key
		}
		mu.Lock()
		order[c.key] = append(order[c.key], c.id)
		mu.Unlock()
		return http.StatusOK, nil, nil
	})
	sub, err := s.Subscribe(ctx, Trigger{Name: "ordered", Subject: "ordered", Ordering: OrderingKey, MaxConcurrency: 4,
		Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, rec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range perKey {
		for _, k := range keys {
			if err := s.PublishEvent(ctx, "ordered", &Event{ID: fmt.Sprintf("%s-%d", k, i), Type: "t", OrderingKey: k}); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, "all processed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order["k1"])+len(order["k2"])+len(order["k3"]) == perKey*len(keys)
	})
	eventually(t, "all acked", settled(t, sub))
	mu.Lock()
	defer mu.Unlock()
	if overlap {
		t.Error("two events of one key ran at once")
	}
	for _, k := range keys {
		for i, id := range order[k] {
			if want := fmt.Sprintf("%s-%d", k, i); id != want {
				t.Fatalf("order[%s][%d] = %s, want %s (order %v)", k, i, id, want, order[k])
			}
		}
	}
}

func TestDuplicatePublishDeduped(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), Options{})
	rec := newRecorder(nil)
	sub, err := s.Subscribe(ctx, Trigger{Name: "jobs", Subject: "jobs", MaxConcurrency: 1}, rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"dup", "dup", "after"} {
		if err := s.PublishEvent(ctx, "jobs", &Event{ID: id, Source: "src", Type: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	for range 2 {
		got[rec.next(t).id] = true
	}
	if !got["dup"] || !got["after"] {
		t.Fatalf("calls = %v, want dup and after", got)
	}
	eventually(t, "acked", settled(t, sub))
	if n := rec.count("dup"); n != 1 {
		t.Errorf("dup invoked %d times, want 1", n)
	}
	// The stream stored one copy: the completion record did not have to
	// absorb a second delivery.
	if info, err := sub.cons.Info(ctx); err != nil || info.Delivered.Consumer != 2 {
		t.Errorf("deliveries = %d, %v, want 2 (dup once, after)", info.Delivered.Consumer, err)
	}
}

// TestCompletedButUnacked loses the ack of a completed event: with the
// completion record the redelivery is skipped; with dedup = "window" the
// function runs again, and Status knows nothing of the event.
func TestCompletedButUnacked(t *testing.T) {
	tests := []struct {
		dedup       string
		wantRuns    int
		wantRecords int
	}{
		{DedupRecord, 1, 1},
		{DedupWindow, 2, 0},
	}
	for _, tc := range tests {
		t.Run("dedup="+tc.dedup, func(t *testing.T) {
			ctx := context.Background()
			var drop sync.Once
			dropped := false
			opts := Options{dropAck: func() bool {
				first := false
				drop.Do(func() { first, dropped = true, true })
				return first
			}}
			s := openTest(t, t.TempDir(), opts)
			rec := newRecorder(nil)
			sub, err := s.Subscribe(ctx, Trigger{Name: "jobs", Subject: "jobs", AckTimeout: 300 * time.Millisecond, Dedup: tc.dedup}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PublishEvent(ctx, "jobs", &Event{ID: "once", Source: "src", Type: "t"}); err != nil {
				t.Fatal(err)
			}
			rec.next(t)
			eventually(t, "redelivered and acked", func() bool {
				info, err := sub.cons.Info(ctx)
				return err == nil && info.Delivered.Consumer >= 2 && info.NumAckPending == 0 && info.NumPending == 0
			})
			if !dropped {
				t.Fatal("the ack was never dropped")
			}
			if n := rec.count("once"); n != tc.wantRuns {
				t.Errorf("invoked %d times, want %d", n, tc.wantRuns)
			}
			if recs, err := s.Status(ctx, "src", "once"); err != nil || len(recs) != tc.wantRecords {
				t.Errorf("Status = %+v, %v, want %d records", recs, err, tc.wantRecords)
			}
		})
	}
}

func TestLongWorkNotRedelivered(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), Options{})
	rec := newRecorder(func(call, int) (int, http.Header, error) {
		<-time.After(900 * time.Millisecond) // three ack timeouts of work
		return http.StatusOK, nil, nil
	})
	sub, err := s.Subscribe(ctx, Trigger{Name: "slow", Subject: "slow", AckTimeout: 300 * time.Millisecond}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, "slow", "t", nil); err != nil {
		t.Fatal(err)
	}
	rec.next(t)
	eventually(t, "acked", settled(t, sub))
	info, err := sub.cons.Info(ctx)
	if err != nil || info.Delivered.Consumer != 1 || info.NumRedelivered != 0 {
		t.Errorf("deliveries = %d (redelivered %d), %v, want 1: progress must keep long work from being redelivered",
			info.Delivered.Consumer, info.NumRedelivered, err)
	}
}

func TestInvalidEventDeadLettered(t *testing.T) {
	valid := func() nats.Header {
		return Event{ID: "x", Source: "s", Type: "t", Time: time.Unix(0, 0)}.header()
	}
	tests := []struct {
		name   string
		header func() nats.Header
		data   string
		reason string
	}{
		{"no headers", func() nats.Header { return nats.Header{} }, "raw", "ce-specversion"},
		{"missing id", func() nats.Header { h := valid(); h.Del(HeaderID); return h }, "", "missing ce-id"},
		{"bad time", func() nats.Header { h := valid(); h.Set(HeaderTime, "yesterday"); return h }, "", "RFC 3339"},
		{"too large", valid, strings.Repeat("x", 65), "body cap of 64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, t.TempDir(), Options{})
			rec := newRecorder(nil)
			sub, err := s.Subscribe(ctx, Trigger{Name: "in", Subject: "in", MaxBodyBytes: 64}, rec)
			if err != nil {
				t.Fatal(err)
			}
			m := nats.NewMsg("in")
			m.Header, m.Data = tc.header(), []byte(tc.data)
			if _, err := s.js.PublishMsg(ctx, m); err != nil {
				t.Fatal(err)
			}
			if err := s.PublishEvent(ctx, "in", &Event{ID: "good", Type: "t"}); err != nil {
				t.Fatal(err)
			}
			if c := rec.next(t); c.id != "good" {
				t.Errorf("call %q, want only the valid event", c.id)
			}
			eventually(t, "settled", settled(t, sub))
			dls, _ := sub.DeadLetters(ctx)
			if len(dls) != 1 || !strings.Contains(dls[0].Reason, tc.reason) || string(dls[0].Data) != tc.data {
				t.Errorf("DeadLetters = %+v, want one with reason containing %q", dls, tc.reason)
			}
		})
	}
}

func TestPublishWithoutStream(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	if _, err := s.Publish(context.Background(), "nobody.listens", "t", nil); !errors.Is(err, ErrNoStream) {
		t.Errorf("Publish = %v, want ErrNoStream", err)
	}
	if _, err := s.Publish(context.Background(), "bad.*", "t", nil); err == nil {
		t.Error("Publish to a wildcard subject succeeded")
	}
}

func TestCloseTwice(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(ctx, Trigger{Name: "a", Subject: "a"}, newRecorder(nil))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := sub.Close(ctx); err != nil {
			t.Errorf("Subscription.Close #%d: %v", i+1, err)
		}
		if err := s.Close(ctx); err != nil {
			t.Errorf("Server.Close #%d: %v", i+1, err)
		}
	}
	if _, err := s.Subscribe(ctx, Trigger{Name: "b", Subject: "b"}, newRecorder(nil)); err == nil {
		t.Error("Subscribe after Close succeeded")
	}
}

func TestEventsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	trig := Trigger{Name: "jobs", Subject: "jobs"}
	sub, err := s.Subscribe(ctx, trig, newRecorder(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Published while no subscription runs, then the server restarts.
	if err := s.PublishEvent(ctx, "jobs", &Event{ID: "kept", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, dir, Options{})
	rec := newRecorder(nil)
	if _, err := s2.Subscribe(ctx, trig, rec); err != nil {
		t.Fatal(err)
	}
	if c := rec.next(t); c.id != "kept" {
		t.Errorf("call %q, want kept", c.id)
	}
}

// TestExternalServer runs a trigger over a TCP connection to another
// server (here an embedded one listening on loopback, with a token), the
// way edged uses `[events] url`.
func TestExternalServer(t *testing.T) {
	ctx := context.Background()
	host := openTest(t, t.TempDir(), Options{Listen: "127.0.0.1:0", Token: "s3cret"})
	url := host.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("ClientURL = %q, want a loopback URL", url)
	}
	if _, err := Open(ctx, Options{URL: url, Token: "wrong"}); err == nil {
		t.Fatal("Open with a wrong token succeeded")
	}
	client := openTest(t, "", Options{URL: url, Token: "s3cret"})
	rec := newRecorder(nil)
	if _, err := client.Subscribe(ctx, Trigger{Name: "remote", Subject: "remote"}, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Publish(ctx, "remote", "t", []byte("over tcp")); err != nil {
		t.Fatal(err)
	}
	if c := rec.next(t); c.body != "over tcp" {
		t.Errorf("body = %q", c.body)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"zero", Options{}, ""},
		{"interval", Options{Sync: SyncInterval}, ""},
		{"loopback listen", Options{Listen: "127.0.0.1:4222"}, ""},
		{"public listen with token", Options{Listen: "0.0.0.0:4222", Token: "t"}, ""},
		{"public listen without token", Options{Listen: "0.0.0.0:4222"}, "events.token"},
		{"bad sync", Options{Sync: "sometimes"}, "events.sync"},
		{"bad listen", Options{Listen: "4222"}, "events.listen"},
		{"negative store", Options{MaxStore: -1}, "events.max_store"},
		{"cluster on loopback", Options{Cluster: []string{"nats://127.0.0.1:6223", "nats://127.0.0.1:6224"}, ClusterListen: "127.0.0.1:6222"}, ""},
		{"cluster listing itself", Options{Cluster: []string{"nats://a:6222", "nats://b:6222", "nats://c:6222"}, ClusterListen: "a:6222", ClusterToken: "t", Replicas: 3}, ""},
		{"public cluster with token", Options{Cluster: []string{"nats://b:6222", "nats://c:6222"}, ClusterListen: "0.0.0.0:6222", ClusterToken: "t", ClusterName: "eu-1", ServerName: "node-a.example"}, ""},
		{"public cluster without token", Options{Cluster: []string{"nats://b:6222"}, ClusterListen: "0.0.0.0:6222"}, "events.cluster_listen"},
		{"cluster without listen", Options{Cluster: []string{"nats://b:6222"}}, "events.cluster_listen"},
		{"cluster listen without cluster", Options{ClusterListen: "127.0.0.1:6222"}, "events.cluster_listen"},
		{"cluster token without cluster", Options{ClusterToken: "t"}, "events.cluster_token"},
		{"cluster listen port 0", Options{Cluster: []string{"nats://b:6222"}, ClusterListen: "127.0.0.1:0"}, "events.cluster_listen"},
		{"cluster listen no port", Options{Cluster: []string{"nats://b:6222"}, ClusterListen: "127.0.0.1"}, "events.cluster_listen"},
		{"cluster with url", Options{URL: "nats://n:4222", Cluster: []string{"nats://b:6222"}, ClusterListen: "127.0.0.1:6222"}, "events.cluster:"},
		{"route scheme", Options{Cluster: []string{"tls://b:6222"}, ClusterListen: "127.0.0.1:6222"}, "events.cluster[0]"},
		{"route user info", Options{Cluster: []string{"nats://u:p@b:6222"}, ClusterListen: "127.0.0.1:6222"}, "events.cluster[0]"},
		{"route without port", Options{Cluster: []string{"nats://b"}, ClusterListen: "127.0.0.1:6222"}, "events.cluster[0]"},
		{"route path", Options{Cluster: []string{"nats://b:6222/x"}, ClusterListen: "127.0.0.1:6222"}, "events.cluster[0]"},
		{"too many routes", Options{Cluster: manyRoutes(maxRoutes + 1), ClusterListen: "127.0.0.1:6222"}, "events.cluster:"},
		{"cluster name", Options{Cluster: []string{"nats://b:6222"}, ClusterListen: "127.0.0.1:6222", ClusterName: "a b"}, "events.cluster_name"},
		{"server name", Options{ServerName: "a b"}, "events.server_name"},
		{"replicas alone", Options{Replicas: 3}, "events.replicas"},
		{"replicas with url", Options{URL: "nats://n:4222", Replicas: 3}, ""},
		{"replicas over 5", Options{URL: "nats://n:4222", Replicas: 6}, "events.replicas"},
		{"negative replicas", Options{Replicas: -1}, "events.replicas"},
		{"replicas over members", Options{Cluster: []string{"nats://b:6222"}, ClusterListen: "127.0.0.1:6222", Replicas: 3}, "events.replicas"},
		{"negative ready timeout", Options{ReadyTimeout: -1}, "events.ready_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func manyRoutes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "nats://n" + strconv.Itoa(i) + ":6222"
	}
	return out
}

// TestClusterDefaults checks the defaults the cluster options depend on:
// three copies once there are three members, one otherwise.
func TestClusterDefaults(t *testing.T) {
	tests := []struct {
		name     string
		o        Options
		members  int
		replicas int
	}{
		{"alone", Options{}, 1, 1},
		{"external server", Options{URL: "nats://a:4222,nats://b:4222,nats://c:4222"}, 1, 1},
		{"two members", Options{Cluster: []string{"nats://b:6222"}, ClusterListen: "a:6222"}, 2, 1},
		{"three members", Options{Cluster: []string{"nats://b:6222", "nats://c:6222"}, ClusterListen: "a:6222"}, 3, 3},
		{"three listing itself", Options{Cluster: []string{"nats://a:6222", "nats://b:6222", "nats://c:6222"}, ClusterListen: "a:6222"}, 3, 3},
		{"two listing itself", Options{Cluster: []string{"nats://a:6222", "nats://b:6222"}, ClusterListen: "a:6222"}, 2, 1},
		{"a route twice", Options{Cluster: []string{"nats://b:6222", "nats://b:6222"}, ClusterListen: "a:6222"}, 2, 1},
		{"five members, replicas set", Options{Cluster: manyRoutes(4), ClusterListen: "a:6222", Replicas: 5}, 5, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.o.ClusterMembers(); got != tc.members {
				t.Errorf("ClusterMembers() = %d, want %d", got, tc.members)
			}
			d := tc.o.withDefaults()
			if d.Replicas != tc.replicas {
				t.Errorf("Replicas = %d, want %d", d.Replicas, tc.replicas)
			}
			if d.ClusterName != DefaultClusterName || d.ServerName == "" || d.ReadyTimeout != DefaultReadyTimeout {
				t.Errorf("ClusterName %q, ServerName %q, ReadyTimeout %v", d.ClusterName, d.ServerName, d.ReadyTimeout)
			}
		})
	}
}

// TestClusterRoutesCarryToken checks the embedded server's cluster options:
// the token is the routes' password, on both sides, and never required
// without one.
func TestClusterRoutesCarryToken(t *testing.T) {
	o := Options{Cluster: []string{"nats://b:6222"}, ClusterListen: "0.0.0.0:6222", ClusterToken: "s3cret", ClusterName: "c"}
	c, routes := clusterOpts(o)
	if c.Name != "c" || c.Host != "0.0.0.0" || c.Port != 6222 || c.Username != routeUser || c.Password != "s3cret" {
		t.Errorf("cluster opts %+v", c)
	}
	if len(routes) != 1 || routes[0].User.Username() != routeUser || routes[0].Host != "b:6222" {
		t.Fatalf("routes %v", routes)
	}
	if p, _ := routes[0].User.Password(); p != "s3cret" {
		t.Errorf("route password %q", p)
	}
	o.ClusterToken, o.ClusterListen = "", "127.0.0.1:6222"
	c, routes = clusterOpts(o)
	if c.Username != "" || c.Password != "" || routes[0].User != nil {
		t.Errorf("without a token: cluster %+v, route %v", c, routes[0])
	}
}

// TestNotReadyErrors classifies the errors whenReady waits out.
func TestNotReadyErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"timeout", context.DeadlineExceeded, true},
		{"no responders", nats.ErrNoResponders, true},
		{"not enabled", jetstream.ErrJetStreamNotEnabled, true},
		{"temporarily unavailable", &jetstream.APIError{ErrorCode: 10008, Code: 503}, true},
		{"insufficient resources", fmt.Errorf("wrapped: %w", &jetstream.APIError{ErrorCode: 10023, Code: 503}), true},
		{"name in use", jetstream.ErrStreamNameAlreadyInUse, false},
		{"bad request", &jetstream.APIError{ErrorCode: jetstream.JSErrCodeBadRequest, Code: 400}, false},
		{"other", errors.New("boom"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := notReady(tc.err); got != tc.want {
				t.Errorf("notReady(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestWhenReady checks the wait: a standalone server tries once, a
// clustered one retries what is not ready yet until it works or the timeout
// ends, and gives up at once on any other error.
func TestWhenReady(t *testing.T) {
	notYet := &jetstream.APIError{ErrorCode: 10008, Code: 503}
	tests := []struct {
		name       string
		standalone bool
		errs       []error // the answers of successive attempts; then nil
		calls      int     // attempts expected; -1: more than one, fewer than errs
		want       error
	}{
		{"standalone tries once", true, []error{notYet}, 1, notYet},
		{"cluster retries until ready", false, []error{notYet, nats.ErrNoResponders, context.DeadlineExceeded}, 4, nil},
		{"cluster gives up at once on a real error", false, []error{jetstream.ErrStreamNameAlreadyInUse}, 1, jetstream.ErrStreamNameAlreadyInUse},
		{"cluster gives up after the timeout", false, slices.Repeat([]error{notYet}, 1000), -1, ErrNotReady},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The bubble's clock runs the pauses and the timeout without
			// waiting.
			synctest.Test(t, func(t *testing.T) {
				s := &Server{standalone: tc.standalone, opts: Options{ReadyTimeout: time.Minute}}
				calls := 0
				err := s.whenReady(context.Background(), func(ctx context.Context) error {
					if _, ok := ctx.Deadline(); !ok && !tc.standalone {
						t.Error("an attempt without a deadline")
					}
					calls++
					if calls <= len(tc.errs) {
						return tc.errs[calls-1]
					}
					return nil
				})
				if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Errorf("whenReady = %v, want %v", err, tc.want)
				}
				if tc.calls >= 0 && calls != tc.calls {
					t.Errorf("%d attempts, want %d", calls, tc.calls)
				}
				if tc.calls < 0 && (calls < 2 || calls >= len(tc.errs)) {
					t.Errorf("%d attempts before the timeout", calls)
				}
			})
		})
	}
}

// TestNoPortByDefault checks the embedded server opens no listener.
func TestNoPortByDefault(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	if s.ClientURL() != "" {
		t.Errorf("ClientURL = %q, want none", s.ClientURL())
	}
	if addr := s.embedded.Addr(); addr != nil {
		t.Errorf("listening on %v, want no port", addr)
	}
}

// TestDeadLetterPublishFailureKeepsEvent fills the dead-letter stream so the
// dead-letter publish fails: the original must stay unacknowledged and be
// dead-lettered once there is room, never dropped.
func TestDeadLetterPublishFailureKeepsEvent(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), Options{})
	full, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: "FULL", Subjects: []string{"jobs.dead"},
		MaxMsgs: 1, Discard: jetstream.DiscardNew, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.js.Publish(ctx, "jobs.dead", []byte("filler")); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(func(call, int) (int, http.Header, error) { return StatusDeadLetter, nil, nil })
	sub, err := s.Subscribe(ctx, Trigger{Name: "jobs", Subject: "jobs", Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PublishEvent(ctx, "jobs", &Event{ID: "keep", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	// 422 dead-letters at once: a second invocation means the event came
	// back after the failed dead-letter publish.
	rec.next(t)
	rec.next(t)
	if err := full.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "dead-lettered once there is room", func() bool {
		d, _ := sub.DeadLetters(ctx)
		return len(d) == 1 && d[0].ID == "keep"
	})
	eventually(t, "original acked", settled(t, sub))
}

// TestCloseHandsBackKeyedEvents closes a key-ordered trigger while events
// of the key wait behind a running one: Close does not run them, and they
// are handed back at once (well before the ack timeout).
func TestCloseHandsBackKeyedEvents(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), Options{})
	release, started := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the server's Close even if the test fails
	first := newRecorder(func(c call, _ int) (int, http.Header, error) {
		if c.id == "k-0" {
			close(started)
			<-release
		}
		return http.StatusOK, nil, nil
	})
	trig := Trigger{Name: "keyed", Subject: "keyed", Ordering: OrderingKey, AckTimeout: time.Minute}
	sub, err := s.Subscribe(ctx, trig, first)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.PublishEvent(ctx, "keyed", &Event{ID: fmt.Sprintf("k-%d", i), Type: "t", OrderingKey: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-started:
	case <-time.After(waitLimit):
		t.Fatal("k-0 never ran")
	}
	eventually(t, "the rest queued behind k-0", func() bool {
		sub.keysMu.Lock()
		defer sub.keysMu.Unlock()
		return len(sub.keys["k"]) == 4
	})
	closed := make(chan error, 1)
	go func() { closed <- sub.Close(ctx) }()
	<-sub.stop // Close has begun: the queue must not be run any more
	unblock()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	second := newRecorder(nil)
	if _, err := s.Subscribe(ctx, trig, second); err != nil {
		t.Fatal(err)
	}
	// Handed back, they come again at once, not after the ack timeout.
	// JetStream may redeliver handed-back events in another order.
	got := map[string]bool{}
	for range 4 {
		got[second.next(t).id] = true
	}
	for i := 1; i < 5; i++ {
		if !got[fmt.Sprintf("k-%d", i)] {
			t.Errorf("k-%d not redelivered (got %v)", i, got)
		}
	}
	if n := first.count("k-1") + second.count("k-0"); n != 0 {
		t.Errorf("k-1 ran before Close or k-0 ran again (%d)", n)
	}
}
