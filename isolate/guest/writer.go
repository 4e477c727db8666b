//go:build wasip1

package guest

import (
	"net/http"

	"github.com/edged/edged/isolate/guest/internal/abi"
)

// flushThreshold is how much body the writer buffers before it commits the
// status and headers and streams to the host: large enough that typical
// responses cost one write_body call, small enough to bound guest memory.
const flushThreshold = 32 << 10

// responseWriter buffers a response and sends it to the host: status and
// headers once, on the first flush, then the body with write_body. One value
// is reused for every invocation of an instance.
type responseWriter struct {
	header    http.Header
	status    int
	committed bool // status and headers were sent to the host
	buf       []byte
}

var _ http.ResponseWriter = (*responseWriter)(nil)
var _ http.Flusher = (*responseWriter)(nil)

func (w *responseWriter) reset() *responseWriter {
	if len(w.header) > 0 { // clearing even an empty map costs calls
		clear(w.header)
	}
	if w.header == nil {
		w.header = make(http.Header)
	}
	w.status = 0
	w.committed = false
	w.buf = w.buf[:0]
	return w
}

// Header returns the response headers; changes after the first flush are
// ignored, as in net/http.
func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader records the status; only the first call counts.
func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	if code < 100 || code > 999 {
		panic("guest: invalid WriteHeader code")
	}
	w.status = code
}

// Write buffers p, sending the buffer to the host when it passes
// flushThreshold. It never fails.
func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= flushThreshold {
		w.Flush()
	}
	return len(p), nil
}

// Flush sends the status, headers and buffered body to the host.
func (w *responseWriter) Flush() {
	if !w.committed {
		w.commit()
	}
	if len(w.buf) > 0 {
		hostWriteBody(abi.BodyKindResponse, ptr(w.buf), uint32(len(w.buf)))
		w.buf = w.buf[:0]
	}
}

func (w *responseWriter) commit() {
	w.committed = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	hostSetStatusCode(uint32(w.status))
	typed := false
	if len(w.header) > 0 { // starting even an empty map's loop costs calls
		for name, vs := range w.header {
			// name == "Content-Type" in two halves: the compiler compares
			// constants of up to 6 bytes inline, longer ones with a call.
			if len(name) == 12 && name[:6] == "Conten" && name[6:] == "t-Type" {
				typed = true
			}
			switch len(vs) {
			case 0:
			case 1: // the common case, without pushHeader's call
				hostSetHeaderValue(abi.HeaderKindResponse, name, vs[0])
			default:
				pushHeader(abi.HeaderKindResponse, abi.HeaderOp{Name: name, Values: vs})
			}
		}
	}
	// As net/http: a body without a declared type gets a sniffed one. (An
	// empty Content-Type list declares no type but suppresses the sniffing.)
	if !typed && len(w.buf) > 0 {
		ct := http.DetectContentType(w.buf)
		w.header.Set("Content-Type", ct)
		hostSetHeaderValue(abi.HeaderKindResponse, "Content-Type", ct)
	}
}

// finish completes a response the handler returned from.
func (w *responseWriter) finish() {
	w.Flush()
}

// discard drops a response a middleware wrote before returning Next.
func (w *responseWriter) discard() {
	w.buf = w.buf[:0]
}
