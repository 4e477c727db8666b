package wasmrw

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// guests caches the toolchain-built guests per test binary run: building
// the Go guest takes seconds and several tests and benchmarks need it.
var guests struct {
	sync.Mutex
	dir   string
	built map[string][]byte
}

// goGuest builds testdata/goguest with GOOS=wasip1 GOARCH=wasm.
func goGuest(t testing.TB) []byte {
	return buildGuest(t, "go", func(out string) *exec.Cmd {
		cmd := exec.Command("go", "build", "-o", out, ".")
		cmd.Dir = filepath.Join("testdata", "goguest")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		return cmd
	})
}

// cGuest builds testdata/cguest with Debian's clang and wasi-libc (whose
// sysroot is /usr: headers in /usr/include/wasm32-wasi).
func cGuest(t testing.TB) []byte {
	return buildGuest(t, "c", func(out string) *exec.Cmd {
		clang, err := exec.LookPath("clang-14")
		if err != nil {
			clang = "clang"
		}
		return exec.Command(clang, "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-g",
			"-o", out, filepath.Join("testdata", "cguest", "main.c"))
	})
}

func buildGuest(t testing.TB, name string, cmd func(out string) *exec.Cmd) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("building guests with a toolchain is skipped in -short mode")
	}
	guests.Lock()
	defer guests.Unlock()
	if b, ok := guests.built[name]; ok {
		return b
	}
	if guests.dir == "" {
		dir, err := os.MkdirTemp("", "wasmrw-guests")
		if err != nil {
			t.Fatal(err)
		}
		guests.dir = dir
		guests.built = map[string][]byte{}
	}
	out := filepath.Join(guests.dir, name+".wasm")
	c := cmd(out)
	if msg, err := c.CombinedOutput(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			t.Skipf("toolchain for %s guest not installed: %v", name, err)
		}
		t.Fatalf("build %s guest: %v\n%s", name, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	guests.built[name] = b
	return b
}

func TestMain(m *testing.M) {
	code := m.Run()
	if guests.dir != "" {
		os.RemoveAll(guests.dir)
	}
	os.Exit(code)
}

// runWASI runs a WASI command module's _start and returns its stdout.
func runWASI(t testing.TB, y *yielder, bin []byte, args ...string) (string, error) {
	t.Helper()
	ctx := context.Background()
	r := newRuntime(t, y)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	var stdout, stderr bytes.Buffer
	cfg := wazero.NewModuleConfig().WithStdout(&stdout).WithStderr(&stderr).
		WithArgs(append([]string{"guest"}, args...)...).WithName("")
	_, err := r.InstantiateWithConfig(ctx, bin, cfg)
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 0 {
		err = nil
	}
	if stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return stdout.String(), err
}

func TestToolchainGuests(t *testing.T) {
	cases := []struct {
		name  string
		build func(testing.TB) []byte
		want  string
	}{
		{"go", goGuest, "fib=75025 primes=17984 sha="},
		{"c", cGuest, "collatz=350@77031 fib=46368 sorted=0,999"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bin := tc.build(t)
			want, err := runWASI(t, nil, bin)
			if err != nil {
				t.Fatalf("original: %v", err)
			}
			if !strings.Contains(want, tc.want) {
				t.Fatalf("original output %q, want it to contain %q", want, tc.want)
			}
			res := mustRewrite(t, bin, Options{
				YieldModule: "edged", YieldName: "yield", InitialFuel: 1000,
				MaxMemoryPages: 16384, ExportMutableGlobals: true, FuelGlobalExport: "__edged_fuel",
			})
			t.Logf("%s guest: %d bytes -> %d bytes, %d functions, %d loops", tc.name, len(bin), len(res.Binary), res.Functions, res.Loops)
			y := &yielder{budget: 1000}
			got, err := runWASI(t, y, res.Binary)
			if err != nil {
				t.Fatalf("rewritten: %v", err)
			}
			if got != want {
				t.Errorf("rewritten output = %q, want %q", got, want)
			}
			if y.calls.Load() == 0 {
				t.Error("yield never called")
			}
			t.Run("spin is stopped", func(t *testing.T) {
				y := &yielder{budget: 1000, stopAfter: 100}
				_, err := runWASI(t, y, res.Binary, "spin")
				if !errors.Is(err, errStop) {
					t.Errorf("spinning guest error = %v, want %v", err, errStop)
				}
			})
		})
	}
}
