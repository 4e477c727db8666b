package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/otlp"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/router"
	"github.com/edged/edged/strangler"
)

// helloC is what examples/guests/hello-c answers on GET /fast.
const helloC = "Hello from C\n"

// runIsolate serves either a native fasthttp handler answering like the
// hello-c guest, or the router pipeline with one retired route invoking it.
// trace is "" (no tracing), "propagate" (trace context only) or "record"
// (every request's spans exported to the OTLP/HTTP collector at collector).
func runIsolate(mode, listen, guest, trace, collector string) error {
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
		w := &router.World{Functions: map[string]*isolate.Function{"fast": fn}}
		switch trace {
		case "":
		case "propagate":
			w.Tracing = &router.Tracing{SampleRatio: 1}
		case "record":
			exp, err := otlp.New(ctx, otlp.Options{Endpoint: collector, ServiceName: "loadproxy"})
			if err != nil {
				return err
			}
			defer func() {
				_ = exp.Shutdown(context.Background())
				fmt.Fprintf(os.Stderr, "loadproxy: spans dropped %d, failed %d\n", exp.Dropped(), exp.Failed())
			}()
			w.Tracing = &router.Tracing{SampleRatio: 1, Exporter: exp}
		default:
			return fmt.Errorf("-trace %q: want propagate or record", trace)
		}
		srv, err := router.NewServer(router.Config{Table: table}, w)
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

// runOTLPSink is a collector that accepts OTLP/HTTP trace exports and throws
// them away, counting spans' bytes: the far end of -trace record.
func runOTLPSink(listen string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var exports, bytes atomic.Int64
	s := &fasthttp.Server{Name: "otlpsink", MaxRequestBodySize: 64 << 20, Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) != "/v1/traces" || !ctx.IsPost() {
			ctx.SetStatusCode(fasthttp.StatusNotFound)
			return
		}
		exports.Add(1)
		bytes.Add(int64(len(ctx.Request.Body())))
		ctx.SetContentType("application/x-protobuf")
	}}
	err := serve(ctx, s, listen)
	fmt.Fprintf(os.Stderr, "otlpsink: %d exports, %d bytes\n", exports.Load(), bytes.Load())
	return err
}
