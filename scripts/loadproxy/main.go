// Command loadproxy serves only router.Upstream.Serve on a port, so scripts/loadtest.sh
// can compare edged's legacy proxy path with a direct upstream and with nginx before the
// daemon exists. With -mode upstream it is instead the fixed ~1 KB upstream under test.
//
//	loadproxy -mode upstream -listen 127.0.0.1:18081
//	loadproxy -mode proxy -listen 127.0.0.1:18082 -upstream http://127.0.0.1:18081
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/edged/edged/router"
	"github.com/valyala/fasthttp"
)

func main() {
	mode := flag.String("mode", "proxy", `"proxy" or "upstream"`)
	listen := flag.String("listen", "127.0.0.1:18082", "address to listen on (loopback)")
	upstream := flag.String("upstream", "http://127.0.0.1:18081", "upstream URL for -mode proxy")
	maxConns := flag.Int("max-conns", 512, "upstream connection cap")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(*mode, *listen, *upstream, *maxConns, log); err != nil {
		log.Error("loadproxy", "err", err)
		os.Exit(1)
	}
}

func run(mode, listen, upstream string, maxConns int, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &fasthttp.Server{Name: "loadproxy"}
	switch mode {
	case "upstream":
		body := bytes.Repeat([]byte("0123456789abcdef"), 64) // 1 KiB
		s.Handler = func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("text/plain")
			ctx.SetBody(body)
		}
	case "proxy":
		u, err := router.NewUpstream("legacy", router.UpstreamOptions{URL: upstream, MaxConns: maxConns}, log)
		if err != nil {
			return err
		}
		defer u.Close()
		router.ConfigureServer(s, router.ServerOptions{})
		s.Handler = u.Serve
	default:
		return fmt.Errorf("mode %q: want proxy or upstream", mode)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen %q: %w", listen, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if err := s.Shutdown(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
