package router

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/strangler"
)

// TestStickyKeySpelling pins down that the sticky key is found whatever the
// client's spelling of the header: the server keeps names as sent, and a
// case-sensitive lookup put every user in one bucket.
func TestStickyKeySpelling(t *testing.T) {
	tests := []struct {
		name, sticky string
		headers      [][2]string
		want         string
	}{
		{"header lower in request", "header:X-User", [][2]string{{"x-user", "alice"}}, "alice"},
		{"header canonical in request", "header:x-user", [][2]string{{"X-User", "bob"}}, "bob"},
		{"header upper", "header:x-user", [][2]string{{"X-USER", "carol"}}, "carol"},
		{"cookie", "cookie:session", [][2]string{{"cookie", "a=1; session=s3; b=2"}}, "s3"},
		{"cookie header upper", "cookie:session", [][2]string{{"COOKIE", "session=s4"}}, "s4"},
		{"cookie name is case-sensitive", "cookie:session", [][2]string{{"Cookie", "Session=x"}}, "\x7f\x00\x00\x01"},
		{"missing header falls back to the client IP", "header:x-user", nil, "\x7f\x00\x00\x01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.DisableNormalizing()
			for _, h := range tc.headers {
				ctx.Request.Header.Add(h[0], h[1])
			}
			ctx.SetRemoteAddr(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000})
			r := &strangler.Route{Name: "r", Sticky: tc.sticky}
			var scratch [16]byte
			if got := string(stickyKey(&ctx, r, nil, &scratch)); got != tc.want {
				t.Errorf("stickyKey(%s) = %q, want %q", tc.sticky, got, tc.want)
			}
		})
	}
}
