//go:build !noevents

package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/internal/natstest"
)

// daemonProcEnv, set in the environment of this test binary, makes it run a
// daemon on the router.toml it names instead of the tests (TestMain), so
// that a test can kill -9 a whole node: its daemon and its embedded NATS
// server.
const daemonProcEnv = "EDGED_TEST_DAEMON_CONFIG"

// procReadyLine prefixes the line a daemon process prints once it serves:
// its public and admin base URLs follow.
const procReadyLine = "EDGED TEST DAEMON READY "

// procWait bounds a daemon process's start (a node of a cluster is ready
// once a majority of the NATS servers is up, within clusterReady) and its
// death.
const procWait = 5 * time.Minute

func TestMain(m *testing.M) {
	if path := os.Getenv(daemonProcEnv); path != "" {
		os.Exit(runDaemonProc(path, os.Stdin, os.Stdout, os.Stderr))
	}
	natstest.Main(m) // runs the tests, or a NATS node of natstest
}

// runDaemonProc serves the daemon of the configuration at path until stdin
// ends (the test closed it, or died), logging to stderr.
func runDaemonProc(path string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := New(ctx, Options{ConfigPath: path, Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, "daemon process:", err)
		return 1
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(ctx) }()
	fmt.Fprintln(stdout, procReadyLine+d.PublicURL()+" "+d.AdminURL())
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()
	if err := <-served; err != nil {
		fmt.Fprintln(stderr, "daemon process:", err)
		return 1
	}
	return 0
}

// daemonProc is a daemon running in a child process of the test.
type daemonProc struct {
	name      string
	publicURL string
	adminURL  string
	admin     *admin.Client

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *procLog
	ready  chan string // the ready line's URLs
	exited chan struct{}
	once   sync.Once
}

// spawnDaemon writes cfg and the admin token to a directory of its own and
// starts a daemon process on it, without waiting for it (nodes of one NATS
// cluster start together); awaitReady waits. The process is killed when the
// test ends.
func spawnDaemon(t *testing.T, name, cfg string) *daemonProc {
	t.Helper()
	path := writeConfig(t, cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), daemonProcEnv+"="+path)
	p := &daemonProc{name: name, cmd: cmd, stderr: &procLog{}, ready: make(chan string, 1), exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start daemon %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if urls, ok := strings.CutPrefix(sc.Text(), procReadyLine); ok {
				p.ready <- urls
			}
		}
		_ = cmd.Wait() // after stdout is read to its end, as exec requires
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("daemon %s logged:\n%s", name, p.stderr.String())
		}
	})
	return p
}

// awaitReady waits until the process serves, or fails the test with what it
// logged.
func (p *daemonProc) awaitReady(t *testing.T) {
	t.Helper()
	select {
	case urls := <-p.ready:
		p.publicURL, p.adminURL, _ = strings.Cut(urls, " ")
		p.admin = admin.NewClient(p.adminURL, "token", &http.Client{Timeout: 10 * time.Second})
	case <-p.exited:
		t.Fatalf("daemon %s exited before it served: %s", p.name, p.stderr.String())
	case <-time.After(procWait):
		t.Fatalf("daemon %s not serving within %v: %s", p.name, procWait, p.stderr.String())
	}
}

// kill sends SIGKILL (kill -9: no shutdown, no resignation, no flush) and
// waits until the process is gone.
func (p *daemonProc) kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Kill() // fails only if it exited already
		_ = p.stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(procWait):
		}
	})
}

// get sends an authenticated GET to the admin API and decodes the JSON
// answer into out.
func (p *daemonProc) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.adminURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// procLog keeps what a process writes on stderr, bounded: a chatty daemon
// keeps its first MiB.
type procLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *procLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 1<<20 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *procLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
