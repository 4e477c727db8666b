// Command loadproxy serves one of edged's paths alone on a port, for the load scripts:
// scripts/loadtest.sh compares the legacy proxy path (proxy.Upstream.Serve) with a
// direct upstream and with nginx; scripts/loadtest-isolate.sh compares an isolate route
// (the full router pipeline invoking the hello-c guest) with a native fasthttp handler
// giving the same answer.
//
//	loadproxy -mode upstream -listen 127.0.0.1:18081
//	loadproxy -mode proxy -listen 127.0.0.1:18082 -upstream http://127.0.0.1:18081
//	loadproxy -mode native -listen 127.0.0.1:18083
//	loadproxy -mode isolate -listen 127.0.0.1:18084 -guest examples/guests/hello-c/hello-c.wasm
//	loadproxy -mode isolate -listen 127.0.0.1:18085 -trace record -otlp http://127.0.0.1:18086
//	loadproxy -mode otlpsink -listen 127.0.0.1:18086
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
	"runtime/pprof"
	"syscall"

	"github.com/edged/edged/proxy"
	"github.com/edged/edged/router"
	"github.com/valyala/fasthttp"
)

func main() {
	mode := flag.String("mode", "proxy", `"proxy", "upstream", "native", "isolate" or "otlpsink"`)
	listen := flag.String("listen", "127.0.0.1:18082", "address to listen on (loopback)")
	upstream := flag.String("upstream", "http://127.0.0.1:18081", "upstream URL for -mode proxy")
	maxConns := flag.Int("max-conns", 512, "upstream connection cap")
	guest := flag.String("guest", "examples/guests/hello-c/hello-c.wasm", "guest for -mode isolate")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here until the process stops")
	trace := flag.String("trace", "", `-mode isolate: "propagate" or "record" (spans to -otlp)`)
	otlp := flag.String("otlp", "http://127.0.0.1:4318", "OTLP/HTTP collector for -trace record")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadproxy:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "loadproxy:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *mode == "otlpsink" {
		if err := runOTLPSink(*listen); err != nil {
			fmt.Fprintln(os.Stderr, "loadproxy:", err)
			os.Exit(1)
		}
		return
	}
	if *mode == "isolate" || *mode == "native" {
		if err := runIsolate(*mode, *listen, *guest, *trace, *otlp); err != nil {
			fmt.Fprintln(os.Stderr, "loadproxy:", err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
		return
	}
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
		u, err := proxy.New("legacy", proxy.Options{URL: upstream, MaxConns: maxConns}, log)
		if err != nil {
			return err
		}
		defer u.Close()
		router.ConfigureServer(s, router.ServerOptions{})
		s.Handler = u.Serve
	default:
		return fmt.Errorf("mode %q: want proxy or upstream", mode)
	}
	return serve(ctx, s, listen)
}

// serve runs s on listen until ctx ends, then shuts it down.
func serve(ctx context.Context, s *fasthttp.Server, listen string) error {
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
