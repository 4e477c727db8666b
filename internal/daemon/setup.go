package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/router"
)

// serverOptions converts [server] into the fasthttp server's options.
func serverOptions(cfg *config.Config) router.ServerOptions {
	s := cfg.Server
	return router.ServerOptions{
		MaxRequestBody: int(s.MaxRequestBody),
		MaxHeaderSize:  int(s.MaxHeaderSize),
		ReadTimeout:    s.ReadTimeout.Std(),
		WriteTimeout:   s.WriteTimeout.Std(),
		IdleTimeout:    s.IdleTimeout.Std(),
	}
}

// readToken reads the admin bearer token from path. A missing or empty file is an
// error: the admin API can move traffic and is never served without a token.
func readToken(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("admin.token_file %s does not exist; create it with a random token, "+
			"(umask 077; openssl rand -hex 32 > %s), or run edged dev once with this config, which does the same", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("admin.token_file: %w", err)
	}
	tok := []byte(strings.TrimSpace(string(b)))
	if len(tok) == 0 {
		return nil, fmt.Errorf("admin.token_file %q: empty", path)
	}
	return tok, nil
}

// ensureCacheDir creates the compilation cache directory, so that a missing parent is
// reported with the config key rather than deep inside the runtime.
func ensureCacheDir(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("runtime.cache_dir: %w", err)
	}
	return nil
}

// baseURL turns a listener address into a URL a person can open: an unspecified host
// (":8080", "[::]:8080") becomes 127.0.0.1.
func baseURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	host := tcp.IP.String()
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}
