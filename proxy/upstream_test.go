package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/upstreamtest"
)

// readHead reads a message head line by line, keeping names exactly as sent.
func readHead(t testing.TB, br *bufio.Reader) (first string, lines []string) {
	t.Helper()
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read head: %v (got %q so far)", err, lines)
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			return first, lines
		}
		if first == "" {
			first = l
			continue
		}
		lines = append(lines, l)
	}
}

func headerNamed(lines []string, name string) []string {
	var out []string
	for _, l := range lines {
		k, v, _ := strings.Cut(l, ":")
		if strings.EqualFold(k, name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

var hopNames = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "TE", "Trailer", "Upgrade"}

// TestServeHeaderHygiene pins traps 1-3 and 5 of docs/proxy.md in the request direction:
// case kept, repeated headers in order, every hop-by-hop field stripped however it is
// spelled (including the names Connection lists and "TE: trailers"), X-Forwarded-* set.
func TestServeHeaderHygiene(t *testing.T) {
	type seen struct {
		first string
		lines []string
	}
	got := make(chan seen, 1)
	up := startRawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		first, lines := readHead(t, br)
		got <- seen{first, lines}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		_, _ = br.Peek(1) // hold the connection until the proxy drops it
	})
	u := newUpstream(t, up.Addr().String(), Options{})
	front := startFront(t, u, 0)
	rc := upstreamtest.Dial(t, front.Addr().String())
	resp := rc.Do(t, "GET /h?x=1 HTTP/1.1\r\n"+
		"Host: front.example\r\n"+
		"x-legacy-CaseKey: keep\r\n"+
		"X-Multi: a\r\n"+
		"Connection: keep-alive, X-Hop-Named\r\n"+
		"X-Multi: b\r\n"+
		"x-hop-named: secret\r\n"+
		"X-Multi: c\r\n"+
		"keep-alive: timeout=5\r\n"+
		"proxy-authorization: Basic Zm9vOmJhcg==\r\n"+
		"Te: trailers\r\n"+
		"UPGRADE: h2c\r\n"+
		"Proxy-connection: keep-alive\r\n"+
		"X-Multi: d\r\n"+
		"X-Forwarded-For: 203.0.113.9\r\n"+
		"\r\n")
	if resp.StatusCode() != 200 {
		t.Fatalf("status = %d, want 200", resp.StatusCode())
	}
	s := <-got
	if want := "GET /h?x=1 HTTP/1.1"; s.first != want {
		t.Errorf("request line = %q, want %q", s.first, want)
	}
	if !slices.Contains(s.lines, "x-legacy-CaseKey: keep") {
		t.Errorf("headers %q lack %q (case must be kept)", s.lines, "x-legacy-CaseKey: keep")
	}
	if m := headerNamed(s.lines, "X-Multi"); !slices.Equal(m, []string{"a", "b", "c", "d"}) {
		t.Errorf("X-Multi values = %q, want [a b c d] in order", m)
	}
	for _, h := range append(hopNames, "X-Hop-Named") {
		if v := headerNamed(s.lines, h); len(v) > 0 {
			t.Errorf("hop-by-hop %s = %q reached the upstream", h, v)
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"X-Forwarded-For", "127.0.0.1"},
		{"X-Forwarded-Proto", "http"},
		{"X-Forwarded-Host", "front.example"},
		{"Host", "front.example"},
	} {
		if v := headerNamed(s.lines, tc.name); !slices.Equal(v, []string{tc.want}) {
			t.Errorf("%s = %q, want [%q]", tc.name, v, tc.want)
		}
	}
}

// TestServeResponseHeaderHygiene is the response direction of the test above, reading the
// client side byte by byte.
func TestServeResponseHeaderHygiene(t *testing.T) {
	up := startRawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRawRequest(br); err != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 201 Created\r\n"+
				"x-Resp-CaseKey: v\r\n"+
				"X-R: 1\r\n"+
				"Connection: X-Resp-Hop\r\n"+
				"X-R: 2\r\n"+
				"x-resp-hop: s\r\n"+
				"keep-alive: timeout=5\r\n"+
				"proxy-authenticate: Basic\r\n"+
				"upgrade: foo\r\n"+
				"X-R: 3\r\n"+
				"Set-Cookie: a=1\r\n"+
				"Set-Cookie: b=2\r\n"+
				"Content-Length: 5\r\n\r\nhello")
		}
	})
	u := newUpstream(t, up.Addr().String(), Options{})
	front := startFront(t, u, 0)
	c, err := net.Dial("tcp", front.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 2 { // the second round also proves the client connection stayed open
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		first, lines := readHead(t, br)
		if want := "HTTP/1.1 201 Created"; first != want {
			t.Errorf("status line = %q, want %q", first, want)
		}
		if !slices.Contains(lines, "x-Resp-CaseKey: v") {
			t.Errorf("headers %q lack %q", lines, "x-Resp-CaseKey: v")
		}
		if v := headerNamed(lines, "X-R"); !slices.Equal(v, []string{"1", "2", "3"}) {
			t.Errorf("X-R = %q, want [1 2 3]", v)
		}
		if v := headerNamed(lines, "Set-Cookie"); !slices.Equal(v, []string{"a=1", "b=2"}) {
			t.Errorf("Set-Cookie = %q, want [a=1 b=2]", v)
		}
		for _, h := range append(hopNames, "X-Resp-Hop") {
			if v := headerNamed(lines, h); len(v) > 0 {
				t.Errorf("hop-by-hop %s = %q reached the client", h, v)
			}
		}
		cl := headerNamed(lines, "Content-Length")
		if !slices.Equal(cl, []string{"5"}) {
			t.Fatalf("Content-Length = %q, want [5]", cl)
		}
		body := make([]byte, 5)
		if _, err := io.ReadFull(br, body); err != nil || string(body) != "hello" {
			t.Fatalf("body = %q, %v, want hello", body, err)
		}
	}
}

func TestServeForwardedFor(t *testing.T) {
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		var xff []string
		for k, v := range ctx.Request.Header.All() {
			if strings.EqualFold(string(k), "X-Forwarded-For") {
				xff = append(xff, string(v))
			}
		}
		fmt.Fprintf(ctx, "%s|%s|%s", strings.Join(xff, ";"), ctx.Request.Header.Peek("X-Forwarded-Proto"),
			ctx.Request.Header.Peek("X-Forwarded-Host"))
	})
	for _, tc := range []struct {
		name, mode, sent, want string
	}{
		{"overwrite none", "", "", "127.0.0.1|http|h.example"},
		{"overwrite spoofed", "overwrite", "X-Forwarded-For: 6.6.6.6\r\nx-forwarded-for: 7.7.7.7\r\n", "127.0.0.1|http|h.example"},
		{"append none", "append", "", "127.0.0.1|http|h.example"},
		{"append one", "append", "X-Forwarded-For: 10.0.0.1\r\n", "10.0.0.1, 127.0.0.1|http|h.example"},
		{"append two headers", "append", "X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\nX-Forwarded-For: 10.0.0.3\r\n",
			"10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1|http|h.example"},
		{"proto and host overwritten", "append", "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n", "127.0.0.1|http|h.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, up.Addr().String(), Options{ForwardedFor: tc.mode})
			front := startFront(t, u, 0)
			resp := upstreamtest.Dial(t, front.Addr().String()).Do(t, "GET / HTTP/1.1\r\nHost: h.example\r\n"+tc.sent+"\r\n")
			if got := string(resp.Body()); got != tc.want {
				t.Errorf("ForwardedFor(%q) with %q: upstream saw %q, want %q", tc.mode, tc.sent, got, tc.want)
			}
		})
	}
}

// TestServePathByteForByte pins trap 6: the request target reaches the upstream as sent.
func TestServePathByteForByte(t *testing.T) {
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Write(ctx.Request.Header.RequestURI())
	})
	u := newUpstream(t, up.Addr().String(), Options{})
	front := startFront(t, u, 0)
	rc := upstreamtest.Dial(t, front.Addr().String())
	for _, tc := range []struct{ target, want string }{
		{"/debug/../debug/headers", "/debug/../debug/headers"},
		{"/a//b/./c/", "/a//b/./c/"},
		{"/x%2Fy%2e%2E/%7Euser;p=1", "/x%2Fy%2e%2E/%7Euser;p=1"},
		{"/search?q=%20a+b&z=%zz&&x", "/search?q=%20a+b&z=%zz&&x"},
		{"/caf%C3%A9", "/caf%C3%A9"},
		// fasthttp's client rebuilds the request line from the parsed URI and drops an
		// empty query; the only deviation from byte for byte.
		{"/empty-query?", "/empty-query"},
		{"/", "/"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			resp := rc.Do(t, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\n\r\n")
			if got := string(resp.Body()); got != tc.want {
				t.Errorf("upstream saw %q, want %q", got, tc.want)
			}
		})
	}
}

// TestServeBinaryBodies sends every byte value both ways, with fixed length and chunked
// framing from the client, and checks the bytes are exact.
func TestServeBinaryBodies(t *testing.T) {
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/octet-stream")
		b := slices.Clone(ctx.Request.Body())
		slices.Reverse(b) // a transformation, so an echo through the wrong side is caught
		ctx.SetBody(b)
	})
	u := newUpstream(t, up.Addr().String(), Options{})
	front := startFront(t, u, 8<<20)
	body := make([]byte, 1<<20+3)
	for i := range body {
		body[i] = byte(i * 7)
	}
	want := slices.Clone(body)
	slices.Reverse(want)
	for _, tc := range []struct{ name, raw string }{
		{"content-length", "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)},
		{"chunked", "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n", 1000) + string(body[:1000]) + "\r\n" +
			fmt.Sprintf("%x\r\n", len(body)-1000) + string(body[1000:]) + "\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := upstreamtest.Dial(t, front.Addr().String()).Do(t, tc.raw)
			if !bytes.Equal(resp.Body(), want) {
				t.Errorf("body: got %d bytes, want %d bytes, equal=false", len(resp.Body()), len(want))
			}
			if ct := string(resp.Header.ContentType()); ct != "application/octet-stream" {
				t.Errorf("Content-Type = %q, want application/octet-stream", ct)
			}
		})
	}
}

// TestServeNoDefaultHeaders checks the proxy adds no Content-Type or User-Agent the
// other side did not send.
func TestServeNoDefaultHeaders(t *testing.T) {
	var mu sync.Mutex
	var ua []string
	up := startRawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		_, lines := readHead(t, br)
		mu.Lock()
		ua = headerNamed(lines, "User-Agent")
		mu.Unlock()
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
		_, _ = br.Peek(1)
	})
	u := newUpstream(t, up.Addr().String(), Options{})
	front := startFront(t, u, 0)
	rc := upstreamtest.Dial(t, front.Addr().String())
	if _, err := io.WriteString(rc.Conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_, lines := readHead(t, rc.R)
	if v := headerNamed(lines, "Content-Type"); len(v) > 0 {
		t.Errorf("client got Content-Type %q the upstream never sent", v)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ua) > 0 {
		t.Errorf("upstream got User-Agent %q the client never sent", ua)
	}
}

func TestServeHead(t *testing.T) {
	up := upstreamtest.Start(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain")
		ctx.SetBody(bytes.Repeat([]byte("x"), 100<<10))
	})
	u := newUpstream(t, up.Addr().String(), Options{})
	front := startFront(t, u, 0)
	rc := upstreamtest.Dial(t, front.Addr().String())
	if _, err := io.WriteString(rc.Conn, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	first, lines := readHead(t, rc.R)
	if first != "HTTP/1.1 200 OK" || !slices.Equal(headerNamed(lines, "Content-Length"), []string{"102400"}) {
		t.Errorf("HEAD answered %q %q, want 200 with Content-Length 102400", first, lines)
	}
	// The next bytes must be the GET's response, not a stray HEAD body.
	resp := &fasthttp.Response{}
	if err := resp.Read(rc.R); err != nil || len(resp.Body()) != 100<<10 {
		t.Errorf("GET after HEAD: %v, body %d bytes, want %d", err, len(resp.Body()), 100<<10)
	}
}

func TestConnNames(t *testing.T) {
	var cn connNames
	cn.add([]byte("keep-alive, X-A,,x-b ,X-C, X-D, X-E, X-F, X-G, X-H, X-I , X-J"))
	cn.add([]byte("Upgrade"))
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"x-a", true}, {"X-B", true}, {"x-h", true}, {"X-I", true}, {"x-j", true}, {"te", true},
		{"TRANSFER-ENCODING", true}, {"Keep-Alive", true}, {"X-K", false}, {"X-Forwarded-For", false}, {"", false},
	} {
		t.Run(tc.key, func(t *testing.T) {
			if got := cn.isHopByHop([]byte(tc.key)); got != tc.want {
				t.Errorf("isHopByHop(%q) = %v, want %v", tc.key, got, tc.want)
			}
		})
	}
}
