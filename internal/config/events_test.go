package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/events"
	"github.com/edged/edged/limits"
)

// eventsBase has a function for triggers to name.
const eventsBase = minimal + `
[functions.fn]
module = "mod.wasm"
`

func TestEventsDefaults(t *testing.T) {
	t.Run("no events used: no table", func(t *testing.T) {
		c, err := Decode([]byte(eventsBase), "testdata")
		if err != nil {
			t.Fatal(err)
		}
		if c.Events != nil || c.Triggers != nil {
			t.Errorf("Events = %+v, Triggers = %+v, want nil", c.Events, c.Triggers)
		}
	})
	t.Run("a trigger without [events] gets the embedded server", func(t *testing.T) {
		doc := eventsBase + "[[triggers]]\nname = \"t\"\nfunction = \"fn\"\nsubject = \"a.b\"\n"
		c, err := Decode([]byte(doc), "testdata")
		if err != nil {
			t.Fatal(err)
		}
		dir, _ := filepath.Abs("testdata")
		want := Events{StoreDir: filepath.Join(dir, events.DefaultStoreDir), Sync: events.SyncAlways,
			ClusterName: events.DefaultClusterName, Replicas: 1, ReadyTimeout: limits.Duration(events.DefaultReadyTimeout)}
		if c.Events == nil || !reflect.DeepEqual(*c.Events, want) {
			t.Fatalf("Events = %+v, want %+v", c.Events, want)
		}
		got := c.Triggers[0]
		wantT := Trigger{Name: "t", Function: "fn", Subject: "a.b", MaxRetries: events.DefaultMaxRetries,
			Backoff: limits.Duration(events.DefaultBackoff), MaxBackoff: limits.Duration(events.DefaultMaxBackoff),
			AckTimeout: limits.Duration(events.DefaultAckTimeout), MaxConcurrency: events.DefaultMaxConcurrency,
			Ordering: events.OrderingNone, Dedup: events.DedupRecord}
		if got != wantT {
			t.Errorf("Triggers[0] = %+v, want %+v", got, wantT)
		}
	})
	t.Run("a publish list without [events] gets the embedded server", func(t *testing.T) {
		doc := minimal + "[functions.fn]\nmodule = \"mod.wasm\"\npublish = [\"a.*\"]\n"
		c, err := Decode([]byte(doc), "testdata")
		if err != nil {
			t.Fatal(err)
		}
		if c.Events == nil || c.Functions["fn"].Publish[0] != "a.*" {
			t.Errorf("Events = %+v, publish = %q", c.Events, c.Functions["fn"].Publish)
		}
	})
	t.Run("replicas follow the cluster's members", func(t *testing.T) {
		for _, tc := range []struct {
			routes string
			want   int
		}{
			{``, 1},
			{`cluster = ["nats://b:6222"]`, 1},
			{`cluster = ["nats://b:6222", "nats://c:6222"]`, 3},
			{`cluster = ["nats://127.0.0.1:6222", "nats://b:6222", "nats://c:6222"]`, 3}, // this node listed too
		} {
			doc := eventsBase + "[events]\n"
			if tc.routes != "" {
				doc += tc.routes + "\ncluster_listen = \"127.0.0.1:6222\"\n"
			}
			c, err := Decode([]byte(doc), "testdata")
			if err != nil {
				t.Fatalf("%s: %v", tc.routes, err)
			}
			if c.Events.Replicas != tc.want || c.Events.ClusterName != events.DefaultClusterName {
				t.Errorf("%s: replicas %d, cluster name %q; want %d, %q", tc.routes, c.Events.Replicas, c.Events.ClusterName, tc.want, events.DefaultClusterName)
			}
			if o := c.Events.Options(); o.Replicas != tc.want || len(o.Cluster) != len(c.Events.Cluster) {
				t.Errorf("%s: Options() = %+v", tc.routes, o)
			}
		}
	})
	t.Run("max_backoff follows a longer backoff", func(t *testing.T) {
		doc := eventsBase + "[[triggers]]\nname = \"t\"\nfunction = \"fn\"\nsubject = \"a\"\nbackoff = \"10m\"\n"
		c, err := Decode([]byte(doc), "testdata")
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Triggers[0].MaxBackoff.Std(); got != 10*time.Minute {
			t.Errorf("MaxBackoff = %v, want 10m", got)
		}
	})
	t.Run("explicit max_retries 0 means none", func(t *testing.T) {
		doc := eventsBase + "[[triggers]]\nname = \"t\"\nfunction = \"fn\"\nsubject = \"a\"\nmax_retries = 0\n"
		c, err := Decode([]byte(doc), "testdata")
		if err != nil {
			t.Fatal(err)
		}
		if c.Triggers[0].MaxRetries != 0 || c.Triggers[0].Events().MaxRetries != -1 {
			t.Errorf("MaxRetries = %d, events %d, want 0 and -1 (none)", c.Triggers[0].MaxRetries, c.Triggers[0].Events().MaxRetries)
		}
	})
}

// TestEvents decodes [events], [[triggers]], enqueue routes and publish
// lists: good ones must pass, and the events package must accept what
// passed; bad ones must name the key.
func TestEvents(t *testing.T) {
	trig := func(extra string) string {
		return "[[triggers]]\nname = \"t\"\nfunction = \"fn\"\n" + extra + "\n"
	}
	queue := func(extra string) string { return trig("subject = \"orders.new\"\n" + extra) }
	enqueueRoute := func(extra string) string {
		return "[[routes]]\nname = \"in\"\npath = \"/in\"\n" + extra + "\n"
	}
	tests := []struct {
		name     string
		doc      string
		wantPath string // "" for a valid file
	}{
		{"embedded defaults", "[events]\n", ""},
		{"external url", "[events]\nurl = \"nats://nats.internal:4222\"\n", ""},
		{"cluster urls", "[events]\nurl = \"nats://a:4222, tls://b:4222\"\n", ""},
		{"interval sync", "[events]\nsync = \"interval\"\n", ""},
		{"listen loopback", "[events]\nlisten = \"127.0.0.1:0\"\n", ""},
		{"listen remote with token", "[events]\nlisten = \"0.0.0.0:4222\"\ntoken = \"s3cret\"\n", ""},
		{"cluster of three", "[events]\ncluster = [\"nats://b:6222\", \"nats://c:6222\"]\ncluster_listen = \"0.0.0.0:6222\"\ncluster_token = \"s3cret\"\n", ""},
		{"cluster on loopback", "[events]\ncluster = [\"nats://127.0.0.1:6223\"]\ncluster_listen = \"127.0.0.1:6222\"\ncluster_name = \"eu-1\"\n", ""},
		{"cluster listing itself, five copies", "[events]\ncluster = [\"nats://a:6222\", \"nats://b:6222\", \"nats://c:6222\", \"nats://d:6222\", \"nats://e:6222\"]\ncluster_listen = \"a:6222\"\ncluster_token = \"t\"\nreplicas = 5\n", ""},
		{"replicas on an external cluster", "[events]\nurl = \"nats://a:4222\"\nreplicas = 3\n", ""},
		{"queue trigger", queue(""), ""},
		{"wildcard queue with dead letter", trig("subject = \"orders.*\"\ndead_letter = \"dlq.orders\""), ""},
		{"schedule trigger", trig("schedule = \"@every 30s\""), ""},
		{"cron trigger", trig("schedule = \"*/5 * * * *\""), ""},
		{"every option", queue("max_retries = 10\nbackoff = \"2s\"\nmax_backoff = \"1m\"\nack_timeout = \"5m\"\nmax_concurrency = 1000\nordering = \"key\"\ndedup = \"window\"\ndead_letter = \"orders.failed\""), ""},
		{"enqueue route", queue("") + enqueueRoute("enqueue = \"orders.new\""), ""},
		{"enqueue route on a wildcard trigger", trig("subject = \"orders.>\"\ndead_letter = \"dlq\"") + enqueueRoute("enqueue = \"orders.eu.new\""), ""},
		{"enqueue route to an external server", "[events]\nurl = \"nats://n:4222\"\n" + enqueueRoute("enqueue = \"elsewhere\""), ""},
		{"publish list", "[functions.pub]\nmodule = \"mod.wasm\"\npublish = [\"jobs.>\", \"a.*.c\"]\n", ""},

		{"sync", "[events]\nsync = \"sometimes\"\n", "events.sync"},
		{"empty store dir", "[events]\nstore_dir = \"\"\n", "events.store_dir"},
		{"tiny max store", "[events]\nmax_store = \"1KiB\"\n", "events.max_store"},
		{"url scheme", "[events]\nurl = \"http://n:4222\"\n", "events.url"},
		{"url user info", "[events]\nurl = \"nats://u:SECRETVALUE@n:4222\"\n", "events.url"},
		{"url path", "[events]\nurl = \"nats://n:4222/x\"\n", "events.url"},
		{"url port", "[events]\nurl = \"nats://n:99999\"\n", "events.url"},
		{"url no host", "[events]\nurl = \"nats://:4222\"\n", "events.url"},
		{"url in a cluster list", "[events]\nurl = \"nats://a:4222,b:4222\"\n", "events.url"},
		{"listen with url", "[events]\nurl = \"nats://n:4222\"\nlisten = \"127.0.0.1:4222\"\n", "events.listen"},
		{"listen address", "[events]\nlisten = \"nowhere\"\n", "events.listen"},
		{"listen remote without token", "[events]\nlisten = \"0.0.0.0:4222\"\n", "events.listen"},
		{"cluster with url", "[events]\nurl = \"nats://n:4222\"\ncluster = [\"nats://b:6222\"]\ncluster_listen = \"127.0.0.1:6222\"\n", "events.cluster"},
		{"cluster without listen", "[events]\ncluster = [\"nats://b:6222\"]\n", "events.cluster_listen"},
		{"cluster listen without cluster", "[events]\ncluster_listen = \"127.0.0.1:6222\"\n", "events.cluster_listen"},
		{"cluster token without cluster", "[events]\ncluster_token = \"t\"\n", "events.cluster_token"},
		{"cluster listen remote without token", "[events]\ncluster = [\"nats://b:6222\"]\ncluster_listen = \"0.0.0.0:6222\"\n", "events.cluster_listen"},
		{"cluster listen port 0", "[events]\ncluster = [\"nats://b:6222\"]\ncluster_listen = \"127.0.0.1:0\"\n", "events.cluster_listen"},
		{"cluster listen address", "[events]\ncluster = [\"nats://b:6222\"]\ncluster_listen = \"6222\"\n", "events.cluster_listen"},
		{"route scheme", "[events]\ncluster = [\"nats://b:6222\", \"http://c:6222\"]\ncluster_listen = \"127.0.0.1:6222\"\n", "events.cluster[1]"},
		{"route user info", "[events]\ncluster = [\"tls://u:SECRETVALUE@b:6222\"]\ncluster_listen = \"127.0.0.1:6222\"\n", "events.cluster[0]"},
		{"route port", "[events]\ncluster = [\"nats://b\"]\ncluster_listen = \"127.0.0.1:6222\"\n", "events.cluster[0]"},
		{"cluster name", "[events]\ncluster = [\"nats://b:6222\"]\ncluster_listen = \"127.0.0.1:6222\"\ncluster_name = \"a.b\"\n", "events"},
		{"replicas 0", "[events]\nreplicas = 0\n", "events.replicas"},
		{"replicas 6", "[events]\nurl = \"nats://n:4222\"\nreplicas = 6\n", "events.replicas"},
		{"ready_timeout 0", "[events]\nready_timeout = \"0s\"\n", "events.ready_timeout"},
		{"ready_timeout 2h", "[events]\nready_timeout = \"2h\"\n", "events.ready_timeout"},
		{"replicas alone", "[events]\nreplicas = 3\n", "events"},
		{"replicas over members", "[events]\ncluster = [\"nats://b:6222\"]\ncluster_listen = \"127.0.0.1:6222\"\nreplicas = 3\n", "events"},
		{"unknown events key", "[events]\nstorage = \"file\"\n", "events.storage"},

		{"no name", "[[triggers]]\nfunction = \"fn\"\nsubject = \"a\"\n", "triggers[0].name"},
		{"bad name", "[[triggers]]\nname = \"a.b\"\nfunction = \"fn\"\nsubject = \"a\"\n", "triggers[0].name"},
		{"long name", "[[triggers]]\nname = \"" + strings.Repeat("n", 65) + "\"\nfunction = \"fn\"\nsubject = \"a\"\n", "triggers[0].name"},
		{"duplicate name", queue("") + queue(""), "triggers[1].name"},
		{"no function", "[[triggers]]\nname = \"t\"\nsubject = \"a\"\n", "triggers[0].function"},
		{"undefined function", "[[triggers]]\nname = \"t\"\nfunction = \"nope\"\nsubject = \"a\"\n", "triggers[0].function"},
		{"neither subject nor schedule", trig(""), "triggers[0].subject"},
		{"both subject and schedule", trig("subject = \"a\"\nschedule = \"@hourly\""), "triggers[0].subject"},
		{"bad subject", trig("subject = \"a..b\""), "triggers[0].subject"},
		{"reserved subject", trig("subject = \"$JS.API.>\"\ndead_letter = \"d\""), "triggers[0].subject"},
		{"bad schedule", trig("schedule = \"every day\""), "triggers[0].schedule"},
		{"too frequent schedule", trig("schedule = \"@every 10ms\""), "triggers[0].schedule"},
		{"negative retries", queue("max_retries = -1"), "triggers[0].max_retries"},
		{"too many retries", queue("max_retries = 1001"), "triggers[0].max_retries"},
		{"zero backoff", queue("backoff = \"0s\""), "triggers[0].backoff"},
		{"long backoff", queue("backoff = \"25h\"\nmax_backoff = \"25h\""), "triggers[0].backoff"},
		{"zero max backoff", queue("max_backoff = \"0s\""), "triggers[0].max_backoff"},
		{"max backoff under backoff", queue("backoff = \"10s\"\nmax_backoff = \"5s\""), "triggers[0].max_backoff"},
		{"long max backoff", queue("max_backoff = \"48h\""), "triggers[0].max_backoff"},
		{"short ack timeout", queue("ack_timeout = \"100ms\""), "triggers[0].ack_timeout"},
		{"long ack timeout", queue("ack_timeout = \"25h\""), "triggers[0].ack_timeout"},
		{"zero concurrency", queue("max_concurrency = 0"), "triggers[0].max_concurrency"},
		{"too much concurrency", queue("max_concurrency = 1001"), "triggers[0].max_concurrency"},
		{"ordering", queue("ordering = \"fifo\""), "triggers[0].ordering"},
		{"unknown dedup", queue("dedup = \"none\""), "triggers[0].dedup"},
		{"dedup window on a schedule", trig("schedule = \"@hourly\"\ndedup = \"window\""), "triggers[0].dedup"},
		{"bad dead letter", queue("dead_letter = \"a.*\""), "triggers[0].dead_letter"},
		{"wildcard subject needs a dead letter", trig("subject = \"orders.*\""), "triggers[0]"},
		{"dead letter matched by the subject", trig("subject = \"orders.>\"\ndead_letter = \"orders.dead\""), "triggers[0]"},
		{"unknown trigger key", queue("retries = 3"), "triggers[0].retries"},

		{"enqueue subject", queue("") + enqueueRoute("enqueue = \"orders.*\""), "routes[1].enqueue"},
		{"enqueue with a stage", queue("") + enqueueRoute("enqueue = \"orders.new\"\nstage = \"legacy\"\nupstream = \"app\""), "routes[1].stage"},
		{"enqueue with a function", queue("") + enqueueRoute("enqueue = \"orders.new\"\nfunction = \"fn\""), "routes[1].function"},
		{"enqueue with a weight", queue("") + enqueueRoute("enqueue = \"orders.new\"\nweight = 5"), "routes[1].weight"},
		{"enqueue with no trigger", enqueueRoute("enqueue = \"orders.new\""), "routes[1].enqueue"},

		{"publish pattern", "[functions.pub]\nmodule = \"mod.wasm\"\npublish = [\"ok\", \"a..b\"]\n", "functions.pub.publish[1]"},
		{"publish reserved", "[functions.pub]\nmodule = \"mod.wasm\"\npublish = [\"$KV.>\"]\n", "functions.pub.publish[0]"},
		{"publish type", "[functions.pub]\nmodule = \"mod.wasm\"\npublish = \"a\"\n", "functions.pub.publish"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := eventsBase + "[[routes]]\nname = \"root\"\npath = \"/\"\nstage = \"legacy\"\nupstream = \"app\"\n" + tc.doc
			c, err := Decode([]byte(doc), "testdata")
			if tc.wantPath == "" {
				if err != nil {
					t.Fatalf("Decode error: %v", err)
				}
				if c.Events == nil {
					t.Fatal("Events = nil for a file that uses events")
				}
				if err := c.Events.Options().Validate(); err != nil {
					t.Errorf("events refuses what config accepted: %v", err)
				}
				for _, tr := range c.Triggers {
					if err := tr.Events().Validate(); err != nil {
						t.Errorf("events refuses trigger %q that config accepted: %v", tr.Name, err)
					}
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode = %v, want a *FieldError", err)
			}
			if fe.Path != tc.wantPath {
				t.Errorf("Decode path = %q (%v), want %q", fe.Path, err, tc.wantPath)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("Decode = %v, quotes a credential", err)
			}
		})
	}
}

// TestEventsDocExample decodes the example of docs/events.md, so that the
// documentation cannot drift from what the config accepts.
func TestEventsDocExample(t *testing.T) {
	md, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(md), "## Configuration\n")
	_, rest, ok2 := strings.Cut(rest, "```toml\n")
	example, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/events.md has no toml example under ## Configuration")
	}
	dir := t.TempDir()
	for _, m := range []string{"orders.wasm", "worker.wasm"} {
		if err := os.WriteFile(filepath.Join(dir, m), []byte("\x00asm"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Decode([]byte(minimal+example), dir)
	if err != nil {
		t.Fatalf("the example of docs/events.md does not decode: %v", err)
	}
	if len(c.Triggers) != 3 || c.Events == nil || c.Routes[0].Enqueue != "orders.new" {
		t.Errorf("decoded %d triggers, events %+v, route %+v", len(c.Triggers), c.Events, c.Routes)
	}
}

// TestEventsClusterDocExample decodes the cluster example of docs/events.md:
// it must be valid and make three members, hence three copies.
func TestEventsClusterDocExample(t *testing.T) {
	md, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(md), "## A cluster of embedded servers\n")
	_, rest, ok2 := strings.Cut(rest, "```toml\n")
	example, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/events.md has no toml example under ## A cluster of embedded servers")
	}
	c, err := Decode([]byte(minimal+example), "testdata")
	if err != nil {
		t.Fatalf("the cluster example of docs/events.md does not decode: %v", err)
	}
	if c.Events == nil || len(c.Events.Cluster) != 3 || c.Events.Replicas != 3 {
		t.Errorf("decoded %+v, want 3 routes and 3 replicas", c.Events)
	}
}
