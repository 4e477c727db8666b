package router

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestClientAddr(t *testing.T) {
	ws, err := compileWorld(&World{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("2001:db8:ffff::/48"),
		netip.MustParsePrefix("192.0.2.9/32"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	untrusting, err := compileWorld(&World{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ws   *worldState
		peer net.IP
		xff  []string
		want string
	}{
		{"no trusted proxies: the peer", untrusting, net.IPv4(10, 1, 1, 1), []string{"203.0.113.5"}, "10.1.1.1"},
		{"untrusted peer: the peer, whatever it claims", ws, net.IPv4(198, 51, 100, 1), []string{"203.0.113.5"}, "198.51.100.1"},
		{"one trusted proxy", ws, net.IPv4(10, 1, 1, 1), []string{"203.0.113.5"}, "203.0.113.5"},
		{"forged left entries are ignored", ws, net.IPv4(10, 1, 1, 1), []string{"1.2.3.4, 203.0.113.5"}, "203.0.113.5"},
		{"chain of trusted proxies", ws, net.IPv4(10, 1, 1, 1), []string{"1.2.3.4, 203.0.113.5, 10.9.9.9, 192.0.2.9"}, "203.0.113.5"},
		{"fields in order", ws, net.IPv4(10, 1, 1, 1), []string{"1.2.3.4, 203.0.113.5", "10.2.2.2"}, "203.0.113.5"},
		{"ipv6 with port", ws, net.IPv4(10, 1, 1, 1), []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"ipv4 with port", ws, net.IPv4(10, 1, 1, 1), []string{"203.0.113.5:1234"}, "203.0.113.5"},
		{"mapped ipv4 is ipv4", ws, net.IPv4(10, 1, 1, 1), []string{"::ffff:203.0.113.5"}, "203.0.113.5"},
		{"garbage stops at the last trusted", ws, net.IPv4(10, 1, 1, 1), []string{"203.0.113.5, unknown"}, "10.1.1.1"},
		{"garbage behind a trusted hop", ws, net.IPv4(10, 1, 1, 1), []string{"nonsense, 10.3.3.3"}, "10.3.3.3"},
		{"only trusted addresses", ws, net.IPv4(10, 1, 1, 1), []string{"10.4.4.4, 10.5.5.5"}, "10.4.4.4"},
		{"no header", ws, net.IPv4(10, 1, 1, 1), nil, "10.1.1.1"},
		{"empty entries skipped", ws, net.IPv4(10, 1, 1, 1), []string{" , 203.0.113.5 ,, "}, "203.0.113.5"},
		{"too many entries", ws, net.IPv4(10, 1, 1, 1), []string{strings.Repeat("10.0.0.1,", 40) + "10.0.0.1"}, "10.0.0.1"},
		{"too many fields", ws, net.IPv4(10, 1, 1, 1), strings.Split(strings.Repeat("203.0.113.5,", 9), ",")[:9], "10.1.1.1"},
		{"zone refused", ws, net.IPv4(10, 1, 1, 1), []string{"fe80::1%eth0"}, "10.1.1.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.DisableNormalizing()
			for i, v := range tc.xff {
				name := "X-Forwarded-For"
				if i%2 == 1 {
					name = "x-forwarded-for"
				}
				ctx.Request.Header.Add(name, v)
			}
			ctx.SetRemoteAddr(&net.TCPAddr{IP: tc.peer, Port: 5000})
			if got := tc.ws.clientAddr(&ctx).String(); got != tc.want {
				t.Errorf("clientAddr(peer %s, XFF %q) = %s, want %s", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
}

func FuzzClientAddr(f *testing.F) {
	ws, err := compileWorld(&World{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("203.0.113.5, 10.0.0.1")
	f.Add("[2001:db8::1]:80,unknown")
	f.Fuzz(func(t *testing.T, xff string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.Set("X-Forwarded-For", xff)
		ctx.SetRemoteAddr(&net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1})
		if a := ws.clientAddr(&ctx); !a.IsValid() {
			t.Fatalf("clientAddr(%q) is not a valid address", xff)
		}
	})
}

func TestClientAddrAllocs(t *testing.T) {
	ws, err := compileWorld(&World{})
	if err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.SetRemoteAddr(&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5000})
	if a := testing.AllocsPerRun(100, func() { _ = ws.clientAddr(&ctx) }); a != 0 {
		t.Errorf("clientAddr without trusted proxies: %v allocations, want 0", a)
	}
}
