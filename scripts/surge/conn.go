package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT: a socket bound to a
// source address gets its port at connect time, per destination, instead of at
// bind time from the shared ephemeral range. With it, each loopback source
// address gives about 28,000 connections to one edged port.
const ipBindAddressNoPort = 24

// dialer returns a dialer from source (an IP, "" for the kernel's choice).
func dialer(source string, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if source == "" {
		return d
	}
	d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(source)}
	d.Control = func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
		})
		return errors.Join(err, serr)
	}
	return d
}

// client is one keep-alive HTTP/1.1 connection sending GET requests for one
// path, written by hand and parsed by fasthttp: no pool, no redial, so every
// failure shows.
type client struct {
	c    net.Conn
	br   *bufio.Reader
	req  []byte
	resp fasthttp.Response
}

func newClient(ctx context.Context, d *net.Dialer, addr, path string) (*client, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &client{
		c:   c,
		br:  bufio.NewReaderSize(c, 2048),
		req: fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: surge\r\nUser-Agent: edged-surge\r\n\r\n", path),
	}, nil
}

// result is one request's outcome.
type result struct {
	status     int
	retryAfter bool          // the answer had a Retry-After header
	latency    time.Duration // write to the end of the answer
	closed     bool          // the server asked to close the connection
}

// do sends one request and reads the answer within timeout.
func (cl *client) do(timeout time.Duration) (result, error) {
	start := time.Now()
	if err := cl.c.SetDeadline(start.Add(timeout)); err != nil {
		return result{}, err
	}
	if _, err := cl.c.Write(cl.req); err != nil {
		return result{}, fmt.Errorf("write: %w", err)
	}
	cl.resp.Reset()
	if err := cl.resp.Read(cl.br); err != nil {
		var ne net.Error
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, fasthttp.ErrTimeout) || (errors.As(err, &ne) && ne.Timeout()) {
			return result{}, errTimeout
		}
		return result{}, fmt.Errorf("read: %w", err)
	}
	return result{
		status:     cl.resp.StatusCode(),
		retryAfter: len(cl.resp.Header.Peek(fasthttp.HeaderRetryAfter)) > 0,
		latency:    time.Since(start),
		closed:     cl.resp.ConnectionClose(),
	}, nil
}

func (cl *client) close() { cl.c.Close() }

// errTimeout is a request with no complete answer within its timeout: a hang,
// as far as the client can tell.
var errTimeout = errors.New("no answer within the timeout")

// errKind names an error for the report.
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, errTimeout), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no source port"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed by edged"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other: " + err.Error()
}
