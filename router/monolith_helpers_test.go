package router

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var monolith struct {
	once sync.Once
	path string
	err  error
}

// monolithBinary builds examples/monolith once per test binary. The directory is left
// in os.TempDir for the life of the process; it is one small binary.
func monolithBinary(t testing.TB) string {
	t.Helper()
	monolith.once.Do(func() {
		dir, err := os.MkdirTemp("", "edged-monolith-")
		if err != nil {
			monolith.err = err
			return
		}
		monolith.path = filepath.Join(dir, "monolith")
		out, err := exec.Command("go", "build", "-o", monolith.path, "../examples/monolith").CombinedOutput()
		if err != nil {
			monolith.err = &exec.ExitError{Stderr: out}
		}
	})
	if monolith.err != nil {
		t.Fatalf("build monolith: %v", monolith.err)
	}
	return monolith.path
}

// startMonolith runs the example monolith on a loopback port and returns its address.
func startMonolith(t testing.TB) string {
	t.Helper()
	cmd := exec.Command(monolithBinary(t), "-listen", "127.0.0.1:0", "-quiet")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on http://")
	if err != nil || !ok {
		t.Fatalf("monolith said %q, %v", line, err)
	}
	return addr
}
