//go:build !noevents

package daemon

import (
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkHandlerFleet compares the request path of a node whose route state
// lives in NATS ([fleet] state = "nats") with one keeping it in a file: the
// same daemon, the same embedded events server, the same routes (legacy on
// /users, the C hello guest on /hello), [fleet] the only difference. The
// fleet applies route changes to the table off the request path, so the two
// should not differ beyond noise (docs/fleet.md, "What the request path
// pays").
func BenchmarkHandlerFleet(b *testing.B) {
	upstream := legacyServer(b)
	for _, state := range []string{"file", "nats"} {
		cfg := fleetTOML(b, "", "", "", upstream)
		cfg.Events = "store_dir = \"events\"\nsync = \"interval\""
		if state == "nats" {
			cfg.Node = "bench"
		}
		cfg.Body += `
[[routes]]
name = "hello"
path = "/hello"
stage = "retired"
function = "hello"
`
		d, _ := startDaemon(b, cfg.String())
		for _, rt := range []struct{ name, uri, want string }{
			{"legacy", "/users", "legacy"},
			{"isolate", "/hello", "Hello"},
		} {
			b.Run(rt.name+"/"+state, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					var req fasthttp.Request
					req.Header.SetMethod("GET")
					req.SetRequestURI(rt.uri)
					req.Header.SetHost("edge.example")
					ctx := &fasthttp.RequestCtx{}
					ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}, nil)
					for pb.Next() {
						ctx.Response.Reset()
						d.server.Handler(ctx)
						if ctx.Response.StatusCode() != 200 || !strings.Contains(string(ctx.Response.Body()), rt.want) {
							b.Fatalf("GET %s = %d %q, want 200 with %q", rt.uri, ctx.Response.StatusCode(), ctx.Response.Body(), rt.want)
						}
					}
				})
			})
		}
	}
}
