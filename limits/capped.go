package limits

import (
	"io"
	"sync"
)

// CappedBuffer collects a guest's output (stdout, stderr and log calls of one
// invocation) up to a limit. Write never fails: bytes past the limit are
// counted and dropped, and Truncated reports it. It is safe for concurrent
// use, so stdout and stderr may share one. Create it with NewCappedBuffer;
// the zero value keeps nothing.
type CappedBuffer struct {
	mu    sync.Mutex
	limit int64
	total int64
	buf   []byte
}

var _ io.Writer = (*CappedBuffer)(nil)

// NewCappedBuffer returns a buffer that keeps at most limit bytes
// (limit < 0 is treated as 0). Memory is allocated as output arrives, not up
// front.
func NewCappedBuffer(limit Size) *CappedBuffer {
	if limit < 0 {
		limit = 0
	}
	return &CappedBuffer{limit: int64(limit)}
}

// Write keeps as much of p as fits under the limit and always returns
// len(p), nil, so a guest never sees an I/O error for chatty output.
func (c *CappedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += int64(n)
	if room := c.limit - int64(len(c.buf)); room > 0 {
		if int64(len(p)) > room {
			p = p[:room]
		}
		c.buf = append(c.buf, p...)
	}
	return n, nil
}

// Bytes returns the kept output. The slice aliases the buffer: it stays
// valid and unchanged until the next Reset.
func (c *CappedBuffer) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf[:len(c.buf):len(c.buf)]
}

// Truncated reports whether any output was dropped since the last Reset.
func (c *CappedBuffer) Truncated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total > int64(len(c.buf))
}

// Total returns the number of bytes written since the last Reset, kept or
// dropped.
func (c *CappedBuffer) Total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// Reset empties the buffer for reuse, keeping its memory. Slices returned by
// Bytes before Reset may be overwritten afterwards.
func (c *CappedBuffer) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = c.buf[:0]
	c.total = 0
}
