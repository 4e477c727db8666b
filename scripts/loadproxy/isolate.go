package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/router"
	"github.com/edged/edged/strangler"
)

// helloC is what examples/guests/hello-c answers on GET /fast.
const helloC = "Hello from C\n"

// runIsolate serves either a native fasthttp handler answering like the
// hello-c guest, or the router pipeline with one retired route invoking it.
func runIsolate(mode, listen, guest string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var handler fasthttp.RequestHandler
	s := &fasthttp.Server{Name: "loadproxy"}
	switch mode {
	case "native":
		router.ConfigureServer(s, router.ServerOptions{})
		handler = func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("text/plain")
			ctx.SetBodyString(helloC)
		}
	case "isolate":
		rt, err := isolate.NewRuntime(ctx, isolate.RuntimeOptions{})
		if err != nil {
			return err
		}
		defer rt.Close(context.Background())
		fn, err := rt.Load(ctx, isolate.Source{Path: guest}, isolate.FunctionOptions{Name: "fast", MinInstances: 2})
		if err != nil {
			return err
		}
		table, err := strangler.NewTable([]strangler.Route{
			{Name: "fast", Path: "/fast", Function: "fast", Stage: strangler.StageRetired, Weight: 100, Step: -1},
		})
		if err != nil {
			return err
		}
		srv, err := router.NewServer(router.Config{Table: table},
			&router.World{Functions: map[string]*isolate.Function{"fast": fn}})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return err
		}
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		return srv.Shutdown(context.Background())
	default:
		return fmt.Errorf("mode %q", mode)
	}
	s.Handler = handler
	return serve(ctx, s, listen)
}
