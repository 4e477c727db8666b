package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers for the integration tests: real binaries, real processes, loopback only.

// waitTimeout bounds every wait for a process to say something; it is a ceiling, not
// a sleep: waits end as soon as the line arrives.
const waitTimeout = 90 * time.Second

// binaries holds the edged and monolith binaries, built once per test run into a
// directory removed by TestMain, plus a compilation cache shared by every edged the
// tests start (so only the first one compiles the Go guests).
type binaries struct {
	dir, edged, monolith, cache string
}

var buildOnce = sync.OnceValues(buildBinaries)

// testBinDir is created by TestMain and removed after the tests.
var testBinDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edged-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testBinDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildBinaries() (*binaries, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("go command not found: %w", err)
	}
	b := &binaries{
		dir:      testBinDir,
		edged:    filepath.Join(testBinDir, "edged"),
		monolith: filepath.Join(testBinDir, "monolith"),
		cache:    filepath.Join(testBinDir, "cache"),
	}
	for _, c := range [][2]string{{b.edged, "."}, {b.monolith, "../../examples/monolith"}} {
		cmd := exec.Command(goBin, "build", "-o", c[0], c[1])
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", c[1], err, out)
		}
	}
	return b, nil
}

// needBinaries skips integration tests in -short mode and builds the binaries.
func needBinaries(t *testing.T) *binaries {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts real processes")
	}
	b, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// repoPath returns the absolute path of a file in the repository.
func repoPath(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// lines collects a stream's lines and lets a test wait for one containing a string.
type lines struct {
	mu      sync.Mutex
	all     []string
	changed chan struct{} // closed and replaced at every new line and at EOF
	eof     bool
}

func newLines(r io.Reader, echo func(string)) *lines {
	l := &lines{changed: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if echo != nil {
				echo(sc.Text())
			}
			l.mu.Lock()
			l.all = append(l.all, sc.Text())
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.eof = true
		close(l.changed)
		l.mu.Unlock()
	}()
	return l
}

// wait returns the first line at index >= from that contains sub, and its index.
func (l *lines) wait(t *testing.T, from int, sub string) (string, int) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for i := from; i < len(l.all); i++ {
			if strings.Contains(l.all[i], sub) {
				line := l.all[i]
				l.mu.Unlock()
				return line, i
			}
		}
		eof, ch := l.eof, l.changed
		l.mu.Unlock()
		if eof {
			t.Fatalf("stream ended without a line containing %q; got:\n%s", sub, l.String())
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no line containing %q within %v; got:\n%s", sub, waitTimeout, l.String())
		}
	}
}

// len returns how many lines have arrived.
func (l *lines) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// proc is a started child process with its output captured.
type proc struct {
	cmd    *exec.Cmd
	stdout *lines
	stderr *lines
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, valid after done
}

// start runs bin with args and env (added to the test's environment) and kills it at
// the end of the test if it is still running.
func start(t *testing.T, env []string, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(bin)
	p := &proc{cmd: cmd, done: make(chan struct{})}
	p.stdout = newLines(stdout, nil)
	p.stderr = newLines(stderr, func(s string) {
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "  [%s] %s\n", name, s)
		}
	})
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// signal sends sig to the process.
func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		t.Fatalf("%s did not exit within %v", p.cmd.Path, waitTimeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// startMonolith starts the example monolith on a free loopback port and returns it
// with its base URL.
func startMonolithProc(t *testing.T, b *binaries) (*proc, string) {
	t.Helper()
	p := start(t, nil, b.monolith, "-listen", "127.0.0.1:0")
	line, _ := p.stdout.wait(t, 0, "listening on ")
	return p, strings.TrimPrefix(line, "listening on ")
}

// edgedProc is a running `edged serve` or `edged dev`.
type edgedProc struct {
	*proc
	public, admin string // base URLs
}

// startEdged runs `edged ARGS...` and waits until it prints its addresses and
// /readyz answers 200.
func startEdged(t *testing.T, b *binaries, env []string, args ...string) *edgedProc {
	t.Helper()
	p := start(t, env, b.edged, args...)
	pub, _ := p.stdout.wait(t, 0, "edged: serving ")
	adm, _ := p.stdout.wait(t, 0, "edged: admin ")
	e := &edgedProc{
		proc:   p,
		public: strings.TrimPrefix(pub, "edged: serving "),
		admin:  strings.TrimPrefix(adm, "edged: admin "),
	}
	waitReady(t, e.admin+"/readyz")
	return e
}

// waitReady polls url until it answers 200, a bounded number of times.
func waitReady(t *testing.T, url string) {
	t.Helper()
	const tries = 100
	var last string
	for i := range tries {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		// Back off a little between tries; the loop is bounded either way.
		time.Sleep(time.Duration(i+1) * 10 * time.Millisecond)
	}
	t.Fatalf("GET %s: not ready after %d tries: %s", url, tries, last)
}

// get does a GET with optional headers (name, value pairs) and returns status, headers
// and body.
func get(t *testing.T, url string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// runEdged runs an edged client command to completion and returns its exit code and
// output.
func runEdged(t *testing.T, b *binaries, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.edged, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("edged %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// observer is a loopback reverse proxy in front of the monolith that reports when a
// request for a watched path prefix arrives, so a test can act while it is in flight
// without guessing with sleeps.
type observer struct {
	url     string
	arrived chan string // receives the path of each watched request
}

func startObserver(t *testing.T, target, watch string) *observer {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{url: "http://" + ln.Addr().String(), arrived: make(chan string, 16)}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, watch) {
			select {
			case o.arrived <- r.URL.Path:
			default:
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return o
}

// daemonTOML is how every test router.toml starts: the public and admin
// listeners on free loopback ports, the admin token in admin.token beside the
// file, the tests' shared compilation cache and a state directory.
// serverKeys are more lines for [server] ("forwarded_for = ..."). Without a
// drain_delay among them, it is 0 so that SIGTERM does not keep tests waiting.
func daemonTOML(b *binaries, serverKeys ...string) string {
	var s strings.Builder
	s.WriteString("\n[server]\nlisten = \"127.0.0.1:0\"\n")
	drain := false
	for _, k := range serverKeys {
		s.WriteString(k + "\n")
		drain = drain || strings.HasPrefix(k, "drain_delay")
	}
	if !drain {
		s.WriteString("drain_delay = \"0s\"\n")
	}
	fmt.Fprintf(&s, "\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"admin.token\"\n\n[runtime]\ncache_dir = %q\nstate_dir = \"state\"\n", b.cache)
	return s.String()
}
