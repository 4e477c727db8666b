package daemon

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged/edged/internal/config"
)

// TestReloadHammer reloads, again and again, a configuration that adds a route
// and the function it names, and one that removes both, while clients keep
// asking for that route over HTTP. Every answer must come from one whole
// generation: 404 without the route, 200 with it. Before the daemon installed
// routes and World in one swap, a request between the table's Replace and the
// World's Swap matched the new route against the old World and got 502.
func TestReloadHammer(t *testing.T) {
	wasm := helloWasm(t)
	d, path := startDaemon(t, testConfig(wasm, false))
	url := d.PublicURL() + "/new"
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok200, ok404 atomic.Int64
	var failed atomic.Bool
	for range 6 {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err != nil {
					t.Errorf("GET /new: %v", err)
					failed.Store(true)
					return
				}
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok200.Add(1)
				case 404:
					ok404.Add(1)
				default:
					if !failed.Swap(true) {
						t.Errorf("GET /new during reloads = %d %q, want 404 or 200", resp.StatusCode, body)
					}
					return
				}
			}
		})
	}
	// At least 150 reloads (with the old order most runs got a 502 within them), and as
	// many as it takes for the clients to see both configurations: a loaded
	// machine may not schedule them at first.
	for i := 0; (i < 150 || ok200.Load() < 50 || ok404.Load() < 50) && i < 2000 && !failed.Load(); i++ {
		if err := os.WriteFile(path, []byte(testConfig(wasm, i%2 == 0)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := d.Reload(context.Background()); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d answers 200, %d answers 404", ok200.Load(), ok404.Load())
}

// TestNewFailsClean starts a daemon whose admin address is taken: New must
// fail after it has set up the runtime, the generation and the public
// listener, and undo all of it, so that the public port is free again.
func TestNewFailsClean(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	public := freeAddrs(t, 1)[0]
	cfg := helloTOML(helloWasm(t), true)
	cfg.Listen, cfg.AdminListen = public, taken.Addr().String()
	path := writeConfig(t, cfg.String())
	d, err := New(context.Background(), Options{ConfigPath: path})
	if d != nil || err == nil || !strings.Contains(err.Error(), "admin.listen") {
		t.Fatalf("New(admin address taken) = %v, %v; want nil and an admin.listen error", d, err)
	}
	ln, err := net.Listen("tcp", public)
	if err != nil {
		t.Fatalf("public port after a failed New: %v; want it closed", err)
	}
	ln.Close()
}

// TestGenerationCleanupAfterFailedProvision reloads a configuration that
// config.Load accepts but whose provision fails (a module that is not wasm,
// next to one that loads): the reload fails, and the running generation keeps
// serving as it was. cleanup is safe on a generation left half provisioned.
func TestGenerationCleanupAfterFailedProvision(t *testing.T) {
	d, path := startDaemon(t, testConfig(helloWasm(t), false))
	broken := filepath.Join(filepath.Dir(path), "broken.wasm")
	if err := os.WriteFile(broken, []byte("not wasm"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := testConfig(helloWasm(t), true) + fmt.Sprintf("\n[functions.broken]\nmodule = %q\n", broken)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path); err != nil {
		t.Fatalf("config.Load = %v; the test needs a file that only provision refuses", err)
	}
	if err := d.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "functions.broken") {
		t.Fatalf("Reload(missing module) = %v, want a functions.broken error", err)
	}
	// The running generation still serves; the new route never appeared.
	for _, tc := range []struct {
		path string
		want int
	}{{"/hello", 200}, {"/new", 404}} {
		resp, err := http.Get(d.PublicURL() + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s after a failed reload = %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
	var g *generation
	g.cleanup(context.Background()) // nil: nothing to do
	(&generation{}).cleanup(context.Background())
	half := &generation{cfg: d.config()}
	if err := half.provision(context.Background(), d.env, nil); err != nil {
		t.Fatal(err)
	}
	half.cleanup(context.Background())
	half.cleanup(context.Background()) // twice: the World is gone
}
