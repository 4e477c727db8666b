package daemon_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"

	"github.com/edged/edged/internal/daemon"
)

// Example starts a daemon on loopback ports with one function, asks it for a
// page, reloads it and stops it.
func Example() {
	dir, err := os.MkdirTemp("", "edged-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	wasm, err := filepath.Abs("../../examples/guests/hello-c/hello-c.wasm")
	if err != nil {
		log.Fatal(err)
	}
	cfg := fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"

[admin]
listen = "127.0.0.1:0"
token_file = "admin.token"

[runtime]
cache_dir = "cache"
state_dir = "state"

[functions.hello]
module = %q

[[routes]]
name = "hello"
path = "/hello"
stage = "retired"
function = "hello"
`, wasm)
	path := filepath.Join(dir, "router.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("secret\n"), 0o600); err != nil {
		log.Fatal(err)
	}

	ctx, stop := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, daemon.Options{ConfigPath: path, Dev: true})
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error)
	go func() { served <- d.Serve(ctx) }()

	resp, err := http.Get(d.PublicURL() + "/hello")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("GET /hello:", resp.StatusCode)
	fmt.Println("reload:", d.Reload(ctx))

	stop()
	fmt.Println("Serve:", <-served)
	// Output:
	// GET /hello: 200
	// reload: <nil>
	// Serve: <nil>
}
