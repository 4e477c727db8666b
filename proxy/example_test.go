package proxy_test

import (
	"fmt"
	"net"

	"github.com/edged/edged/proxy"
	"github.com/valyala/fasthttp"
)

// An Upstream in front of an origin on loopback: Do sends a prepared request and
// buffers the answer, with the hop-by-hop fields stripped both ways.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	origin := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Keep-Alive", "timeout=5") // hop-by-hop: not forwarded
		ctx.Response.Header.Set("X-Origin", "monolith")
		fmt.Fprintf(ctx, "%s %s", ctx.Method(), ctx.RequestURI())
	}}
	go func() { _ = origin.Serve(ln) }()
	defer func() { _ = origin.Shutdown() }()

	up, err := proxy.New("monolith", proxy.Options{URL: "http://" + ln.Addr().String()}, nil)
	if err != nil {
		panic(err)
	}
	defer up.Close()

	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetRequestURI("http://app.example/orders?id=7") // absolute-form goes out as origin-form
	if err := up.Do(nil, req, resp, 0); err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode(), string(resp.Body()))
	fmt.Printf("X-Origin %q, Keep-Alive %q\n", resp.Header.Peek("X-Origin"), resp.Header.Peek("Keep-Alive"))
	// Output:
	// 200 GET /orders?id=7
	// X-Origin "monolith", Keep-Alive ""
}
