//go:build !noevents

// Package natstest starts edged's embedded NATS servers as a cluster of
// child processes on loopback, for tests that need real nodes to kill -9
// and restart: the events cluster test and the fleet tests.
//
// A test binary that uses it calls Main from its TestMain: the binary runs
// again as each node (os.Args[0] with NodeEnv set), opens events.Open with
// the node's cluster options and blocks until its stdin closes or it is
// killed, so a node never outlives the test.
//
//	func TestMain(m *testing.M) { natstest.Main(m) }
//
//	c := natstest.StartCluster(t, 3)
//	nc := c.Nodes[0].Connect(t)
//	c.Nodes[2].Kill(t)
//	c.Nodes[2].Start(t)
package natstest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/events"
)

// NodeEnv, when set in the environment of a test binary that calls Main,
// makes it run as a node: its value is the node's Spec in JSON.
const NodeEnv = "EDGED_NATSTEST_NODE"

// Token is the client token of every node's client port, and the cluster
// token of its routes: the test's own connections present it.
const Token = "natstest-token"

// Wait bounds every wait of the package: a node's start (a cluster elects
// its leader once a majority is up), a connection, a kill.
const Wait = 60 * time.Second

// readyLine prefixes the line a node prints once events.Open returned.
const readyLine = "NATSTEST READY "

// Spec is one node's part of events.Options, passed to the child.
type Spec struct {
	Name          string   `json:"name"`
	StoreDir      string   `json:"store_dir"`
	Listen        string   `json:"listen"`
	ClusterListen string   `json:"cluster_listen"`
	Routes        []string `json:"routes"`
	Replicas      int      `json:"replicas"`
}

func (s Spec) options() events.Options {
	return events.Options{
		StoreDir:      s.StoreDir,
		Sync:          events.SyncInterval, // tests kill processes, not machines
		Listen:        s.Listen,
		Token:         Token,
		Cluster:       s.Routes,
		ClusterListen: s.ClusterListen,
		ClusterToken:  Token,
		ServerName:    s.Name,
		Replicas:      s.Replicas,
		ReadyTimeout:  Wait,
	}
}

// Main runs the node when NodeEnv is set, and otherwise the tests.
func Main(m *testing.M) {
	if spec := os.Getenv(NodeEnv); spec != "" {
		os.Exit(runNode(spec, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// runNode opens the node's events server, reports it ready on stdout and
// blocks until stdin ends (the parent closed it, or died).
func runNode(spec string, stdin io.Reader, stdout, stderr io.Writer) int {
	var s Spec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(stderr, "natstest node:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	srv, err := events.Open(ctx, s.options())
	cancel()
	if err != nil {
		fmt.Fprintln(stderr, "natstest node:", err)
		return 1
	}
	fmt.Fprintln(stdout, readyLine+srv.ClientURL())
	_, _ = io.Copy(io.Discard, stdin)
	ctx, cancel = context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		fmt.Fprintln(stderr, "natstest node: close:", err)
		return 1
	}
	return 0
}

// Cluster is a set of nodes routed to each other.
type Cluster struct {
	Nodes []*Node
}

// Node is one child process running an embedded server. Its ports and
// store directory are kept across Kill and Start, so a restarted node
// rejoins as itself.
type Node struct {
	// Spec is what the node runs with: its name (the server name), store,
	// client and route addresses.
	Spec Spec

	mu        sync.Mutex
	clientURL string    // "" while not running
	cmd       *exec.Cmd // nil while not running
	stdin     io.WriteCloser
	stderr    *lockedBuffer
	ready     chan string   // the client URL, once
	exited    chan struct{} // closed when the process has been waited for
}

// StartCluster starts n nodes named n1, n2, ... on free loopback ports, each
// routed to all the others, with the default replicas (3 with 3 or more
// nodes), and waits until every one is ready. The nodes are killed when the
// test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := freePorts(t, 2*n)
	dir := t.TempDir()
	c := &Cluster{}
	routes := make([]string, n)
	for i := range n {
		routes[i] = "nats://127.0.0.1:" + strconv.Itoa(ports[2*i+1])
	}
	for i := range n {
		name := "n" + strconv.Itoa(i+1)
		c.Nodes = append(c.Nodes, &Node{Spec: Spec{
			Name:          name,
			StoreDir:      filepath.Join(dir, name),
			Listen:        "127.0.0.1:" + strconv.Itoa(ports[2*i]),
			ClusterListen: "127.0.0.1:" + strconv.Itoa(ports[2*i+1]),
			Routes:        routes, // this node's own route is recognised as itself
		}})
	}
	// The nodes wait for each other (a majority elects the leader), so
	// they are all started before any is waited for.
	for _, nd := range c.Nodes {
		nd.spawn(t)
	}
	for _, nd := range c.Nodes {
		nd.awaitReady(t)
	}
	return c
}

// Start starts every node that is not running, all at once, and waits until
// each is ready: a node of a cluster stopped whole is ready only once a
// majority is up again, so the nodes cannot be started one after another.
// The nodes keep their names, ports and stores.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	var started []*Node
	for _, nd := range c.Nodes {
		if nd.URL() == "" {
			nd.spawn(t)
			started = append(started, nd)
		}
	}
	for _, nd := range started {
		nd.awaitReady(t)
	}
}

// URL returns the client URLs of the running nodes, comma-separated, as
// [events] url takes them: a client connected to one reconnects to another.
func (c *Cluster) URL() string {
	var urls []string
	for _, nd := range c.Nodes {
		if u := nd.URL(); u != "" {
			urls = append(urls, u)
		}
	}
	return strings.Join(urls, ",")
}

// freePorts reserves n distinct loopback ports by listening on port 0 and
// closing: another process could take one in between, which a test then
// reports as a node that failed to start.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// Start starts a node that was killed, with the same name, ports and store,
// and waits until it is ready.
func (nd *Node) Start(t testing.TB) {
	t.Helper()
	nd.spawn(t)
	nd.awaitReady(t)
}

// spawn starts the child without waiting for it.
func (nd *Node) spawn(t testing.TB) {
	t.Helper()
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil {
		t.Fatalf("natstest: node %s is running", nd.Spec.Name)
	}
	spec, err := json.Marshal(nd.Spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), NodeEnv+"="+string(spec))
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("natstest: start node %s: %v", nd.Spec.Name, err)
	}
	ready, exited := make(chan string, 1), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), readyLine); ok {
				select {
				case ready <- url:
				default:
				}
			}
		}
		_ = cmd.Wait() // after stdout is read to its end, as exec requires
		close(exited)
	}()
	nd.cmd, nd.stdin, nd.stderr, nd.ready, nd.exited = cmd, stdin, stderr, ready, exited
	t.Cleanup(func() { nd.kill() })
}

// awaitReady waits for the node's ready line, or fails the test with what
// the node wrote on stderr.
func (nd *Node) awaitReady(t testing.TB) {
	t.Helper()
	nd.mu.Lock()
	ready, exited, stderr := nd.ready, nd.exited, nd.stderr
	nd.mu.Unlock()
	select {
	case url := <-ready:
		nd.mu.Lock()
		nd.clientURL = url
		nd.mu.Unlock()
	case <-exited:
		t.Fatalf("natstest: node %s exited before it was ready: %s", nd.Spec.Name, stderr.String())
	case <-time.After(Wait):
		t.Fatalf("natstest: node %s not ready within %s: %s", nd.Spec.Name, Wait, stderr.String())
	}
}

// Kill kills the node with SIGKILL (kill -9: no shutdown, no flush) and
// waits until it is gone.
func (nd *Node) Kill(t testing.TB) {
	t.Helper()
	if err := nd.kill(); err != nil {
		t.Fatalf("natstest: kill node %s: %v", nd.Spec.Name, err)
	}
}

func (nd *Node) kill() error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return nil
	}
	_ = nd.cmd.Process.Kill() // fails only if it already exited
	_ = nd.stdin.Close()
	select {
	case <-nd.exited:
	case <-time.After(Wait):
		return fmt.Errorf("still running %s after SIGKILL", Wait)
	}
	nd.cmd, nd.clientURL = nil, ""
	return nil
}

// URL returns the node's client URL, which requires Token ("" while it is
// not running).
func (nd *Node) URL() string {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.clientURL
}

// Stderr returns what the node wrote on stderr so far, for failure messages.
func (nd *Node) Stderr() string {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.stderr == nil {
		return ""
	}
	return nd.stderr.String()
}

// Connect opens a client connection to the node, closed when the test
// ends. It does not reconnect elsewhere: a test that kills the node sees
// the connection go down.
func (nd *Node) Connect(t testing.TB) *nats.Conn {
	t.Helper()
	url := nd.URL()
	if url == "" {
		t.Fatalf("natstest: node %s is not running", nd.Spec.Name)
	}
	nc, err := nats.Connect(url, nats.Token(Token), nats.Timeout(Wait), nats.Name("natstest "+nd.Spec.Name),
		nats.NoReconnect())
	if err != nil {
		t.Fatalf("natstest: connect to node %s: %v", nd.Spec.Name, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// lockedBuffer is a bytes.Buffer written by exec's copier and read by the
// test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 { // bounded: a chatty node keeps its first MiB
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// MoveStreamLeader makes the server named to the leader of stream (a KV
// bucket's stream is KV_<bucket>), so a test can kill the node that holds
// it. It waits until the stream reports the new leader.
func MoveStreamLeader(t testing.TB, js jetstream.JetStream, stream, to string) {
	t.Helper()
	moveLeader(t, js, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, to, func(ctx context.Context) (string, error) {
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return "", err
		}
		return clusterLeader(st.CachedInfo().Cluster), nil
	})
}

// MoveConsumerLeader makes the server named to the leader of a durable
// consumer of stream, and waits until the consumer reports it.
func MoveConsumerLeader(t testing.TB, js jetstream.JetStream, stream, consumer, to string) {
	t.Helper()
	moveLeader(t, js, "$JS.API.CONSUMER.LEADER.STEPDOWN."+stream+"."+consumer, to, func(ctx context.Context) (string, error) {
		c, err := js.Consumer(ctx, stream, consumer)
		if err != nil {
			return "", err
		}
		return clusterLeader(c.CachedInfo().Cluster), nil
	})
}

func clusterLeader(c *jetstream.ClusterInfo) string {
	if c == nil {
		return ""
	}
	return c.Leader
}

// moveLeader asks the current leader to step down in favour of to (the
// placement "preferred" of the stepdown request), until leader reports to.
func moveLeader(t testing.TB, js jetstream.JetStream, api, to string, leader func(context.Context) (string, error)) {
	t.Helper()
	req, _ := json.Marshal(map[string]any{"placement": map[string]string{"preferred": to}})
	deadline := time.Now().Add(Wait)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := leader(ctx)
		cancel()
		if err == nil && got == to {
			return
		}
		last = fmt.Sprintf("leader %q, err %v", got, err)
		if err == nil && got != "" {
			// The answer is checked by reading the leader again; a refused
			// stepdown (an election under way) is simply tried again.
			if _, err := js.Conn().Request(api, req, 5*time.Second); err != nil {
				last += fmt.Sprintf("; stepdown: %v", err)
			}
		}
		time.Sleep(100 * time.Millisecond) // an election has no notification to wait on
	}
	t.Fatalf("natstest: %s: leader not moved to %s within %s (%s)", api, to, Wait, last)
}
