package config

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edged/edged/events"
	"github.com/edged/edged/limits"
)

// Events is [events]: the NATS JetStream engine behind triggers, enqueue
// routes and guest publish (docs/events.md). Every key has a default: an
// empty table starts the embedded server.
type Events struct {
	// URL is an external NATS server or cluster ("nats://host:4222"); empty
	// (the default) starts the embedded server.
	URL string `toml:"url"`
	// StoreDir holds the embedded server's JetStream files. Default
	// events.DefaultStoreDir (".edged/events"), relative to Config.Dir.
	StoreDir string `toml:"store_dir"`
	// Sync is "always" (default: every write fsynced before JetStream
	// acknowledges it) or "interval" (JetStream's own interval: faster, but
	// acknowledged events can be lost on power loss).
	Sync string `toml:"sync"`
	// MaxStore bounds the embedded server's disk use; 0 (the default) means
	// no bound beyond the disk; if set, at least 1MiB.
	MaxStore limits.Size `toml:"max_store"`
	// Listen exposes the embedded server ("127.0.0.1:4222"; port 0 picks a
	// free one); empty (the default) opens no port.
	Listen string `toml:"listen"`
	// Token is required from clients on Listen (and then required when
	// Listen is not loopback), and sent to URL. It is a secret: messages
	// never quote it.
	Token string `toml:"token"`
	// Cluster lists the routes to the other nodes' embedded servers
	// ("nats://peer:6222"): they form one NATS cluster, so a few edged
	// nodes need no separate NATS process. Requires ClusterListen; not with
	// URL. Empty (the default): no cluster.
	Cluster []string `toml:"cluster"`
	// ClusterListen is where this node accepts routes ("0.0.0.0:6222");
	// required with Cluster. A host that is not loopback requires
	// ClusterToken.
	ClusterListen string `toml:"cluster_listen"`
	// ClusterName names the cluster, the same on every node. Default
	// events.DefaultClusterName ("edged").
	ClusterName string `toml:"cluster_name"`
	// ClusterToken authenticates routes, the same on every node. A secret:
	// messages never quote it.
	ClusterToken string `toml:"cluster_token"`
	// Replicas is how many copies JetStream keeps of each stream and bucket
	// edged creates. Default events.Options.DefaultReplicas: 3 when Cluster
	// makes 3 or more members (its routes and this node), else 1; from 1 to
	// events.MaxReplicas (5).
	Replicas int `toml:"replicas"`
	// ReadyTimeout bounds how long the daemon waits at start for JetStream
	// to be ready: a cluster that just formed elects a leader for itself
	// and for each stream and bucket, seconds each. Default
	// events.DefaultReadyTimeout ("1m"); if set, from "1s" to "1h".
	ReadyTimeout limits.Duration `toml:"ready_timeout"`
}

// Trigger is one [[triggers]] entry: a queue (Subject) or a schedule
// (Schedule) delivered to a function. Defaults are events.Trigger's.
type Trigger struct {
	// Name names the trigger's durable consumer and records: 1-64 letters,
	// digits, '-' and '_', unique. Required.
	Name string `toml:"name"`
	// Function names the [functions.NAME] the events are delivered to.
	// Required.
	Function string `toml:"function"`
	// Subject is the NATS subject of a queue trigger, wildcards allowed.
	// Exactly one of Subject and Schedule.
	Subject string `toml:"subject"`
	// Schedule is a cron expression (5 fields, UTC) or "@every 30s",
	// "@hourly", ... (events.ParseSchedule).
	Schedule string `toml:"schedule"`
	// MaxRetries is how many times a failed event is retried before it is
	// dead-lettered. Default events.DefaultMaxRetries (3); 0 dead-letters
	// at the first failure; at most 1000.
	MaxRetries int `toml:"max_retries"`
	// Backoff is the delay before the first retry, doubling up to
	// MaxBackoff, with jitter. Default events.DefaultBackoff ("1s"); if set,
	// > 0 and at most "24h".
	Backoff limits.Duration `toml:"backoff"`
	// MaxBackoff caps the delay. Default events.DefaultMaxBackoff ("5m"),
	// or Backoff when that is longer; if set, >= Backoff and at most "24h".
	MaxBackoff limits.Duration `toml:"max_backoff"`
	// AckTimeout is how long JetStream waits for a verdict before it
	// redelivers the event (the daemon died): the function's timeout plus a
	// margin; while it runs, progress is reported every third of it.
	// Default events.DefaultAckTimeout ("30s"); if set, from 1s to "24h".
	AckTimeout limits.Duration `toml:"ack_timeout"`
	// MaxConcurrency bounds invocations of the trigger at once. Default
	// events.DefaultMaxConcurrency (4); from 1 to 1000.
	MaxConcurrency int `toml:"max_concurrency"`
	// Ordering is "none" (default) or "key": events with the same ordering
	// key (ce-partitionkey) run one at a time, in order.
	Ordering string `toml:"ordering"`
	// Dedup is "record" (default): a completion record per event, so a
	// redelivery after a lost ack is skipped and the event's status says
	// done; or "window": JetStream's duplicate window on publish only,
	// faster, for idempotent functions. Queue triggers only.
	Dedup string `toml:"dedup"`
	// DeadLetter is the subject failed events go to. Empty (the default)
	// means "<subject>.dead" ("edged.schedule.<name>.dead" for a schedule);
	// required when Subject has wildcards, and must not be matched by it.
	DeadLetter string `toml:"dead_letter"`
}

// Bounds of [events] and [[triggers]]; see the bounds of validate.go.
const (
	minEventsStore       = limits.MiB     // events.max_store: JetStream needs room for its own state
	maxTriggerRetries    = 1000           // triggers[].max_retries
	maxTriggerDelay      = 24 * time.Hour // triggers[].backoff, max_backoff, ack_timeout
	minTriggerAckTimeout = time.Second    // triggers[].ack_timeout: progress is sent every third of it
	// maxTriggerConcurrency is events' bound on events a trigger holds
	// unacknowledged; TestTriggerEvents checks that events agrees.
	maxTriggerConcurrency = 1000
)

// usesEvents reports whether the file needs the events engine without
// having an [events] table: then it gets the defaults (the embedded
// server).
func usesEvents(c *Config) bool {
	if len(c.Triggers) > 0 {
		return true
	}
	for _, r := range c.Routes {
		if r.Enqueue != "" {
			return true
		}
	}
	for _, f := range c.Functions {
		if len(f.Publish) > 0 {
			return true
		}
	}
	return false
}

func defaultEvents(c *Config, set map[string]bool) {
	if c.Events == nil && usesEvents(c) {
		c.Events = &Events{}
	}
	if e := c.Events; e != nil {
		if !set["events.store_dir"] {
			e.StoreDir = events.DefaultStoreDir
		}
		if !set["events.sync"] {
			e.Sync = events.SyncAlways
		}
		if !set["events.cluster_name"] {
			e.ClusterName = events.DefaultClusterName
		}
		if !set["events.replicas"] {
			e.Replicas = e.Options().DefaultReplicas()
		}
		if !set["events.ready_timeout"] {
			e.ReadyTimeout = limits.Duration(events.DefaultReadyTimeout)
		}
	}
	for i := range c.Triggers {
		t := &c.Triggers[i]
		p := "triggers[" + strconv.Itoa(i) + "]."
		if !set[p+"max_retries"] {
			t.MaxRetries = events.DefaultMaxRetries
		}
		if !set[p+"backoff"] {
			t.Backoff = limits.Duration(events.DefaultBackoff)
		}
		if !set[p+"max_backoff"] {
			t.MaxBackoff = limits.Duration(max(events.DefaultMaxBackoff, t.Backoff.Std()))
		}
		if !set[p+"ack_timeout"] {
			t.AckTimeout = limits.Duration(events.DefaultAckTimeout)
		}
		if !set[p+"max_concurrency"] {
			t.MaxConcurrency = events.DefaultMaxConcurrency
		}
		if !set[p+"ordering"] {
			t.Ordering = events.OrderingNone
		}
		if !set[p+"dedup"] {
			t.Dedup = events.DedupRecord
		}
	}
}

func validateEvents(p *problems, c *Config) {
	if e := c.Events; e != nil {
		before := len(*p)
		switch e.Sync {
		case events.SyncAlways, events.SyncInterval:
		default:
			p.add("events.sync", "%q is not %q or %q", e.Sync, events.SyncAlways, events.SyncInterval)
		}
		if e.StoreDir == "" {
			p.add("events.store_dir", "must not be empty")
		}
		if e.MaxStore != 0 && e.MaxStore < minEventsStore {
			p.add("events.max_store", "must be 0 (no bound) or at least %s", limits.Size(minEventsStore))
		}
		if e.URL != "" {
			if err := checkNATSURL(e.URL); err != nil {
				p.add("events.url", "%w", err)
			}
			if e.Listen != "" {
				p.add("events.listen", "only for the embedded server: remove it or events.url")
			}
		}
		if e.Listen != "" {
			if host, ok := validListen(p, "events.listen", e.Listen); ok && !isLoopback(host) && e.Token == "" {
				p.add("events.listen", "%q is not loopback: set events.token", e.Listen)
			}
		}
		if e.ReadyTimeout < limits.Duration(time.Second) || e.ReadyTimeout > limits.Duration(time.Hour) {
			p.add("events.ready_timeout", "%s is not from 1s to 1h", e.ReadyTimeout)
		}
		validateEventsCluster(p, e)
		// events has the last word on its own options; the checks above
		// give better messages, so this only speaks if they found nothing.
		if len(*p) == before {
			if err := e.Options().Validate(); err != nil {
				p.add("events", "%w", err)
			}
		}
	} else if len(c.Triggers) > 0 {
		// Not reachable through Decode (defaults add [events]); kept for
		// hand-built Configs.
		p.add("events", "required by [[triggers]]")
	}

	names := make(map[string]int, len(c.Triggers))
	for i, t := range c.Triggers {
		validateTrigger(p, "triggers["+strconv.Itoa(i)+"]", i, t, names, c)
	}
}

// validateEventsCluster checks the cluster keys of [events]; the rules
// that need the whole table (replicas against the cluster's members) are
// events.Options.Validate's.
func validateEventsCluster(p *problems, e *Events) {
	switch {
	case len(e.Cluster) > 0 && e.URL != "":
		p.add("events.cluster", "only for the embedded server: remove it or events.url")
	case len(e.Cluster) > 0 && e.ClusterListen == "":
		p.add("events.cluster_listen", "required with events.cluster (where this node accepts routes)")
	case len(e.Cluster) == 0 && e.ClusterListen != "":
		p.add("events.cluster_listen", "only with events.cluster")
	case len(e.Cluster) == 0 && e.ClusterToken != "":
		p.add("events.cluster_token", "only with events.cluster")
	}
	for i, r := range e.Cluster {
		if err := events.ValidRoute(r); err != nil {
			p.add("events.cluster["+strconv.Itoa(i)+"]", "%w", err)
		}
	}
	if e.ClusterListen != "" {
		if host, ok := validListen(p, "events.cluster_listen", e.ClusterListen); ok {
			if _, port, _ := net.SplitHostPort(e.ClusterListen); port == "0" {
				p.add("events.cluster_listen", "%q: port must be from 1 to 65535 (the other nodes dial it)", e.ClusterListen)
			} else if !isLoopback(host) && e.ClusterToken == "" {
				p.add("events.cluster_listen", "%q is not loopback: set events.cluster_token", e.ClusterListen)
			}
		}
	}
	if e.Replicas < 1 || e.Replicas > events.MaxReplicas {
		p.add("events.replicas", "%d is not from 1 to %d", e.Replicas, events.MaxReplicas)
	}
}

func validateTrigger(p *problems, path string, i int, t Trigger, names map[string]int, c *Config) {
	before := len(*p)
	switch {
	case t.Name == "":
		p.add(path+".name", "required")
	case len(t.Name) > 64:
		p.add(path+".name", "must be at most 64 bytes")
	default:
		validName(p, path+".name", t.Name)
		if j, dup := names[t.Name]; dup {
			p.add(path+".name", "%q is already used by triggers[%d]", t.Name, j)
		} else {
			names[t.Name] = i
		}
	}
	switch {
	case t.Function == "":
		p.add(path+".function", "required")
	default:
		if _, ok := c.Functions[t.Function]; !ok {
			p.add(path+".function", "[functions.%s] is %w", t.Function, ErrUndefined)
		}
	}
	switch {
	case t.Subject != "" && t.Schedule != "":
		p.add(path+".subject", "set exactly one of subject and schedule, not both")
	case t.Subject == "" && t.Schedule == "":
		p.add(path+".subject", "set exactly one of subject and schedule")
	case t.Subject != "":
		if err := events.ValidPattern(t.Subject); err != nil {
			p.add(path+".subject", "%w", err)
		}
	default:
		if _, err := events.ParseSchedule(t.Schedule); err != nil {
			p.add(path+".schedule", "%w", err)
		}
	}
	validateTriggerDelivery(p, path, t)
	if t.DeadLetter != "" {
		if err := events.ValidSubject(t.DeadLetter); err != nil {
			p.add(path+".dead_letter", "%w", err)
		}
	}
	// events has the last word on a trigger, in particular on its dead
	// letter subject (required with a wildcard subject, never matched by
	// it); it only speaks if the checks above found nothing.
	if len(*p) == before {
		if err := t.Events().Validate(); err != nil {
			p.add(path, "%w", err)
		}
	}
}

// validateTriggerDelivery checks how a trigger runs its events: retries,
// backoff, ack timeout, concurrency, ordering and dedup.
func validateTriggerDelivery(p *problems, path string, t Trigger) {
	if t.MaxRetries < 0 {
		p.add(path+".max_retries", "must be >= 0 (0 dead-letters at the first failure)")
	}
	p.atMost(path+".max_retries", t.MaxRetries, maxTriggerRetries)
	p.positive(path+".backoff", int64(t.Backoff))
	p.durAtMost(path+".backoff", t.Backoff, maxTriggerDelay)
	p.positive(path+".max_backoff", int64(t.MaxBackoff))
	p.durAtMost(path+".max_backoff", t.MaxBackoff, maxTriggerDelay)
	if t.MaxBackoff < t.Backoff && t.MaxBackoff > 0 {
		p.add(path+".max_backoff", "must be >= backoff (%v)", t.Backoff.Std())
	}
	if t.AckTimeout.Std() < minTriggerAckTimeout {
		p.add(path+".ack_timeout", "must be at least %v", minTriggerAckTimeout)
	}
	p.durAtMost(path+".ack_timeout", t.AckTimeout, maxTriggerDelay)
	p.positive(path+".max_concurrency", int64(t.MaxConcurrency))
	p.atMost(path+".max_concurrency", t.MaxConcurrency, maxTriggerConcurrency)
	switch t.Ordering {
	case events.OrderingNone, events.OrderingKey:
	default:
		p.add(path+".ordering", "%q is not %q or %q", t.Ordering, events.OrderingNone, events.OrderingKey)
	}
	if err := events.ValidDedup(t.Dedup, t.Schedule != ""); err != nil {
		p.add(path+".dedup", "%w", err)
	}
}

// validatePublish checks a function's publish patterns.
func validatePublish(p *problems, path string, patterns []string) {
	for i, pat := range patterns {
		if err := events.ValidPattern(pat); err != nil {
			p.add(path+"["+strconv.Itoa(i)+"]", "%w", err)
		}
	}
}

// validateEnqueue checks an enqueue route: a subject, and nothing of the
// stages, which it does not go through. With the embedded server, edged
// creates every stream, so a subject no trigger listens on would refuse
// every request: that is a mistake in the file. An external server may have
// streams of its own.
func validateEnqueue(p *problems, path string, r Route, c *Config) {
	if err := events.ValidSubject(r.Enqueue); err != nil {
		p.add(path+".enqueue", "%w", err)
		return
	}
	for _, f := range []struct {
		key string
		set bool
	}{
		{"stage", r.Stage != ""}, {"upstream", r.Upstream != ""}, {"function", r.Function != ""},
		{"weight", r.Weight != 0}, {"migration", r.Migration != nil}, {"shadow", r.Shadow != nil},
	} {
		if f.set {
			p.add(path+"."+f.key, "not with enqueue: the trigger on %q runs the function", r.Enqueue)
		}
	}
	if c.Events != nil && c.Events.URL != "" {
		return
	}
	for _, t := range c.Triggers {
		if t.Subject != "" && events.ValidPattern(t.Subject) == nil && events.SubjectMatches(t.Subject, r.Enqueue) {
			return
		}
	}
	p.add(path+".enqueue", "no trigger's subject matches %q: its events would be refused", r.Enqueue)
}

// checkNATSURL accepts a nats:// or tls:// URL with a host, or a comma-
// separated list of them (a cluster), as nats.Connect does. User info is
// refused (use events.token), so that messages never carry a credential.
func checkNATSURL(s string) error {
	for _, one := range strings.Split(s, ",") {
		one = strings.TrimSpace(one)
		u, err := url.Parse(one)
		if err != nil {
			return errors.New("not a URL (want nats://host:port)")
		}
		var why string
		switch {
		case u.Scheme != "nats" && u.Scheme != "tls":
			why = "scheme must be nats or tls"
		case u.User != nil:
			u.User = url.User("REDACTED")
			why = "user info is not allowed (set events.token)"
		case u.Opaque != "" || u.Hostname() == "":
			why = "missing host"
		case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
			why = "path, query and fragment are not allowed"
		}
		if why == "" {
			if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
				if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
					why = "port must be a number from 1 to 65535"
				}
			}
		}
		if why != "" {
			return errors.New(strconv.Quote(u.String()) + ": " + why)
		}
	}
	return nil
}

// Options converts [events] to the events package's options. Logger, Source,
// ServerName (the `[fleet] node` name) and the clock are the daemon's to set.
func (e Events) Options() events.Options {
	return events.Options{
		URL:      e.URL,
		StoreDir: e.StoreDir,
		Sync:     e.Sync,
		MaxStore: int64(e.MaxStore),
		Listen:   e.Listen,
		Token:    e.Token,

		Cluster:       e.Cluster,
		ClusterListen: e.ClusterListen,
		ClusterName:   e.ClusterName,
		ClusterToken:  e.ClusterToken,
		Replicas:      e.Replicas,
		ReadyTimeout:  e.ReadyTimeout.Std(),
	}
}

// Events converts the trigger to the events package's. MaxBodyBytes is left
// to the daemon, which sets it to the function's max_request_body.
func (t Trigger) Events() events.Trigger {
	retries := t.MaxRetries
	if retries == 0 {
		retries = -1 // events: 0 is the default, negative is none
	}
	return events.Trigger{
		Name:           t.Name,
		Subject:        t.Subject,
		Schedule:       t.Schedule,
		MaxRetries:     retries,
		Backoff:        t.Backoff.Std(),
		MaxBackoff:     t.MaxBackoff.Std(),
		AckTimeout:     t.AckTimeout.Std(),
		MaxConcurrency: t.MaxConcurrency,
		Ordering:       t.Ordering,
		Dedup:          t.Dedup,
		DeadLetter:     t.DeadLetter,
	}
}
