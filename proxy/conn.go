package proxy

import (
	"net"
	"runtime"
	"sync/atomic"
	"time"
)

// deadlineConn enforces the two read deadlines a streaming proxy needs (trap 9 in
// docs/proxy.md): the response head must start arriving within responseTimeout of the
// request being written, and once it has, each Read only has to make progress within
// idleTimeout. fasthttp's own ReadTimeout would bound the whole streamed body instead.
//
// A connection serves one request at a time (the pool hands it over under a mutex), so
// the state needs no lock.
type deadlineConn struct {
	net.Conn
	responseTimeout time.Duration
	idleTimeout     time.Duration
	open            *atomic.Int64 // the Upstream's open-connection gauge

	awaitingHead bool
	headDeadline time.Time
	yielded      bool // Read has let other goroutines run once since the request went out
	closed       atomic.Bool
}

// Write marks the start of a request: the first Write after a response arms the
// time-to-first-byte deadline.
func (c *deadlineConn) Write(p []byte) (int, error) {
	if !c.awaitingHead {
		c.awaitingHead = true
		c.yielded = false
		c.headDeadline = time.Now().Add(c.responseTimeout)
	}
	return c.Conn.Write(p)
}

// Read applies the time-to-first-byte deadline until a byte of the response has
// arrived and the idle deadline afterwards.
func (c *deadlineConn) Read(p []byte) (int, error) {
	var d time.Time
	if c.awaitingHead {
		if !c.yielded {
			// The upstream cannot have answered a request written a moment ago: a
			// read now mostly fails with EAGAIN and parks the goroutine, a wasted
			// syscall and a netpoll round trip per request. Letting the other
			// runnable goroutines (other clients' requests) go first gives the
			// upstream that time, so the read usually finds the answer waiting.
			// With nothing else runnable Gosched returns at once.
			c.yielded = true
			runtime.Gosched()
		}
		d = c.headDeadline
	} else {
		d = time.Now().Add(c.idleTimeout)
	}
	if err := c.Conn.SetReadDeadline(d); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.awaitingHead = false
	}
	return n, err
}

// SetReadDeadline is a no-op: Read owns the read deadline. fasthttp only calls it to
// clear a deadline it set itself, which it never does with ReadTimeout unset.
func (c *deadlineConn) SetReadDeadline(time.Time) error { return nil }

// SetDeadline only forwards the write half, for the same reason.
func (c *deadlineConn) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

// Close closes the connection once and keeps the open-connection gauge honest.
func (c *deadlineConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.open.Add(-1)
	}
	return c.Conn.Close()
}
