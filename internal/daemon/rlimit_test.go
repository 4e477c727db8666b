//go:build unix

package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestRaiseOpenFiles: a daemon started with a soft open files limit below the
// hard one raises it to the hard limit and logs the change; Go's runtime only
// does that when the process starts, not for a limit lowered afterwards.
func TestRaiseOpenFiles(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	if orig.Max < 512 {
		t.Skipf("hard open files limit %d: too low to lower the soft one under it", orig.Max)
	}
	t.Cleanup(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Errorf("restoring the open files limit: %v", err)
		}
	})
	low := syscall.Rlimit{Cur: orig.Max / 2, Max: orig.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "router.toml")
	if err := os.WriteFile(path, []byte(testConfig(helloWasm(t), false)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := New(ctx, Options{ConfigPath: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(ctx) }()
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve() = %v", err)
	}

	var got syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &got); err != nil {
		t.Fatal(err)
	}
	if got.Cur != orig.Max {
		t.Errorf("soft open files limit after New = %d, want the hard limit %d", got.Cur, orig.Max)
	}
	want := "raised_from=" + strconv.FormatUint(low.Cur, 10)
	if !strings.Contains(logs.String(), want) {
		t.Errorf("logs do not say %q:\n%s", want, logs.String())
	}
}
