package router

import (
	"net"
	"testing"
)

// TestAppendTCPAddr checks the hand-written IPv4 forms against netip's text, which
// the isolate has always been given.
func TestAppendTCPAddr(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr *net.TCPAddr
	}{
		{"v4", &net.TCPAddr{IP: net.IP{127, 0, 0, 1}, Port: 5000}},
		{"v4 wide octets", &net.TCPAddr{IP: net.IP{255, 100, 99, 10}, Port: 65535}},
		{"v4 zeros", &net.TCPAddr{IP: net.IP{0, 0, 0, 0}, Port: 0}},
		{"v4 in v6", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}},
		{"v4 port over 16 bits", &net.TCPAddr{IP: net.IP{10, 1, 2, 3}, Port: 70000}},
		{"v4 negative port", &net.TCPAddr{IP: net.IP{10, 1, 2, 3}, Port: -1}},
		{"v4 zone", &net.TCPAddr{IP: net.IP{10, 1, 2, 3}, Port: 1, Zone: "eth0"}},
		{"v4 in v6 zone", &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 1, Zone: "eth0"}},
		{"v6", &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443}},
		{"v6 zone", &net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 443, Zone: "eth0"}},
		{"empty ip", &net.TCPAddr{Port: 80}},
		{"short ip", &net.TCPAddr{IP: net.IP{1, 2, 3}, Port: 80}},
		{"nil", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := string(tc.addr.AddrPort().AppendTo([]byte("x")))
			if got := string(appendTCPAddr([]byte("x"), tc.addr)); got != want {
				t.Errorf("appendTCPAddr(%v) = %q, want %q", tc.addr, got, want)
			}
		})
	}
}

func FuzzAppendTCPAddr(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1}, 5000, "")
	f.Add([]byte(net.IPv4(192, 0, 2, 1)), 4242, "")
	f.Add([]byte(net.ParseIP("2001:db8::1")), 443, "eth0")
	f.Fuzz(func(t *testing.T, ip []byte, port int, zone string) {
		a := &net.TCPAddr{IP: ip, Port: port, Zone: zone}
		want := string(a.AddrPort().AppendTo(nil))
		if got := string(appendTCPAddr(nil, a)); got != want {
			t.Errorf("appendTCPAddr(%v) = %q, want %q", a, got, want)
		}
	})
}

func TestIsFraming(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"Content-Length", true},
		{"content-length", true},
		{"Transfer-Encoding", true},
		{"CONNECTION", true},
		{"keep-alive", true},
		{"Content-Type", false},
		{"Connections", false},
		{"Keep-Alive2", false},
		{"", false},
		{"X-Connection", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isFraming([]byte(tc.name)); got != tc.want {
				t.Errorf("isFraming(%q) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
	for _, f := range framing {
		if !isFraming(f) {
			t.Errorf("isFraming(%q) = false, want true", f)
		}
	}
}

func TestRequestFromCtxAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	ctx := newCtx("GET", "/fast/hello?x=1")
	ctx.Request.Header.Set("X-User", "alice")
	x := &exchange{}
	requestFromCtx(&x.req, ctx) // warm: the pooled buffers grow once
	if a := testing.AllocsPerRun(1000, func() { requestFromCtx(&x.req, ctx) }); a != 0 {
		t.Errorf("requestFromCtx: %v allocations per request, want 0", a)
	}
	if got, want := string(x.req.RemoteAddr), "[::ffff:192.0.2.1]:4242"; got != want {
		t.Errorf("RemoteAddr = %q, want %q", got, want)
	}
}
