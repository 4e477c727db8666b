package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/internal/daemon"
	"github.com/edged/edged/strangler"
)

const (
	// modulePath identifies the edged source tree when dev looks for the example
	// monolith's source.
	modulePath = "github.com/edged/edged"
	// defaultMonolithAddr is where dev starts the monolith when the file has no
	// [upstreams.monolith].
	defaultMonolithAddr = "127.0.0.1:9000"
	// monolithStartTimeout bounds the wait for the monolith to print its address.
	monolithStartTimeout = 30 * time.Second
)

// runDev is `edged dev`: it creates the admin token file if missing, builds (once) and
// starts the example monolith as a child process, then runs the daemon like serve,
// with a banner describing what runs where. Cancelling ctx (Ctrl-C) stops both.
func runDev(ctx context.Context, cfgPath string, stdout io.Writer, log *slog.Logger) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	created, err := ensureToken(cfg.Admin.TokenFile)
	if err != nil {
		return err
	}
	if created {
		log.Info("created admin token", "file", cfg.Admin.TokenFile)
	}

	addr := monolithAddr(cfg)
	mono, err := startMonolith(ctx, cfg, addr, log)
	if err != nil {
		return err
	}
	defer mono.stop(log)

	return daemon.Run(ctx, daemon.Options{
		ConfigPath: cfgPath,
		Logger:     log,
		Dev:        true,
		Version:    serviceVersion(),
		SpareP:     true,
		OnReady: func(r daemon.Ready) {
			printBanner(stdout, cfgPath, r.Public, r.Admin, mono.url, r.Config, r.Routes)
		},
	})
}

// monolithAddr is the address the monolith should listen on: that of
// [upstreams.monolith] when it is on loopback, else defaultMonolithAddr.
func monolithAddr(cfg *config.Config) string {
	u, ok := cfg.Upstreams["monolith"]
	if !ok {
		return defaultMonolithAddr
	}
	pu, err := url.Parse(u.URL)
	if err != nil || pu.Scheme != "http" || pu.Port() == "" {
		return defaultMonolithAddr
	}
	return pu.Host
}

// ensureToken creates the admin token file with 32 random bytes in hex, mode 0600, if
// it does not exist. It reports whether it created the file.
func ensureToken(path string) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("admin.token_file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("admin.token_file: %w", err)
	}
	var b [32]byte
	rand.Read(b[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil // another process won the race; its token stands
	}
	if err != nil {
		return false, fmt.Errorf("admin.token_file: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(b[:]) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("admin.token_file: %w", err)
	}
	return true, nil
}

// monolith is the example legacy app started by dev, or one that was already running.
type monolith struct {
	url  string
	cmd  *exec.Cmd     // nil when one was already running at the address
	done chan struct{} // closed when cmd has exited
}

// startMonolith starts the example monolith on addr, unless one already answers
// there. The binary is built into the state directory with `go build` the first time,
// and again when its source is newer.
func startMonolith(ctx context.Context, cfg *config.Config, addr string, log *slog.Logger) (*monolith, error) {
	if answersHealthz(ctx, addr) {
		log.Info("a monolith already answers; not starting another", "addr", addr)
		return &monolith{url: "http://" + addr}, nil
	}
	bin, err := monolithBinary(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-listen", addr)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start monolith: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start monolith: %w", err)
	}
	m := &monolith{cmd: cmd, done: make(chan struct{})}

	// The monolith prints "listening on http://ADDR" once it accepts.
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		io.Copy(io.Discard, out)
		cmd.Wait()
		close(m.done)
	}()
	timer := time.NewTimer(monolithStartTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-first:
		u, found := strings.CutPrefix(line, "listening on ")
		if !ok || !found {
			m.stop(log)
			return nil, fmt.Errorf("monolith did not start on %s (is the port in use?)", addr)
		}
		m.url = u
	case <-timer.C:
		m.stop(log)
		return nil, fmt.Errorf("monolith did not start on %s within %v", addr, monolithStartTimeout)
	case <-ctx.Done():
		m.stop(log)
		return nil, ctx.Err()
	}
	log.Info("monolith started", "url", m.url, "pid", cmd.Process.Pid)
	return m, nil
}

// stop sends the monolith SIGTERM and waits for it, killing it if it lingers.
func (m *monolith) stop(log *slog.Logger) {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-m.done:
	case <-t.C:
		log.Warn("monolith did not stop; killing it")
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// answersHealthz reports whether something at addr answers GET /healthz with 200.
func answersHealthz(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return false
	}
	c := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{}).DialContext, DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// monolithBinary returns the path of a built monolith in the state directory, building
// it from the source tree when missing or older than its source.
func monolithBinary(ctx context.Context, cfg *config.Config, log *slog.Logger) (string, error) {
	bin := filepath.Join(cfg.Runtime.StateDir, "bin", "monolith")
	root := findModuleRoot(cfg.Dir)
	if root == "" {
		if wd, err := os.Getwd(); err == nil {
			root = findModuleRoot(wd)
		}
	}
	binInfo, binErr := os.Stat(bin)
	if root == "" {
		if binErr == nil {
			return bin, nil
		}
		return "", fmt.Errorf("cannot find the edged source tree (examples/monolith) from %s or the current directory, and %s does not exist", cfg.Dir, bin)
	}
	src := filepath.Join(root, "examples", "monolith")
	if binErr == nil && !newerThan(src, binInfo.ModTime()) {
		return bin, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building the example monolith needs the go command: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", fmt.Errorf("runtime.state_dir: %w", err)
	}
	log.Info("building the example monolith", "output", bin)
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./examples/monolith")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./examples/monolith: %w", err)
	}
	return bin, nil
}

// findModuleRoot walks up from dir to the directory whose go.mod declares modulePath.
func findModuleRoot(dir string) string {
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			first, _, _ := strings.Cut(string(b), "\n")
			if strings.TrimSpace(first) == "module "+modulePath {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// newerThan reports whether any file in dir was modified after t.
func newerThan(dir string, t time.Time) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return true
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.ModTime().After(t) {
			return true
		}
	}
	return false
}

// printBanner tells a newcomer what runs where and what to try.
func printBanner(w io.Writer, cfgPath, public, admin, monoURL string, cfg *config.Config, routes []strangler.Route) {
	tokenFile := displayPath(cfg.Admin.TokenFile)
	fmt.Fprintf(w, "\nedged dev: serving %s\n\n", cfgPath)
	fmt.Fprintf(w, "  edged     %s\n", public)
	fmt.Fprintf(w, "  monolith  %s  (examples/monolith, the legacy app)\n", monoURL)
	fmt.Fprintf(w, "  admin     %s  (bearer token in %s)\n\n", admin, tokenFile)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  ROUTE\tPATH\tSTAGE\tWEIGHT\tFUNCTION\tUPSTREAM")
	for _, r := range routes {
		weight := "-"
		if r.Stage == strangler.StageCanary {
			weight = fmt.Sprintf("%d%%", r.Weight)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Host+r.Path, r.Stage, weight, dash(r.Function), dash(r.Upstream))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nTry:\n")
	fmt.Fprintf(w, "  curl %s/hello\n", public)
	fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $(cat %s)\" %s/v1/routes\n", tokenFile, admin)
	fmt.Fprintf(w, "  go run ./cmd/edged status -config %s\n", cfgPath)
	fmt.Fprintf(w, "  go run ./cmd/edged promote ROUTE -config %s -reason \"looks good\"\n", cfgPath)
	fmt.Fprintf(w, "\nCtrl-C stops edged and the monolith.\n\n")
}

// displayPath shortens p relative to the working directory when it is below it.
func displayPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
