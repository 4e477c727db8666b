package isolate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/edged/edged/internal/fieldname"
)

// exchange is a Request/Response pair of the http.Handler adapter; each
// Function recycles them (Function.exchanges) so that serving does not
// allocate them per request.
type exchange struct {
	req  Request
	resp Response
}

// Handler serves f as an http.Handler for Go services that embed edged. When
// the guest returns "next", the modified request goes to next (nil answers 502);
// its response passes through the guest's handle_response. Guest failures
// answer with the status StatusOf gives them.
func (f *Function) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex, _ := f.exchanges.Get().(*exchange)
		if ex == nil {
			ex = new(exchange)
		}
		defer f.exchanges.Put(ex)
		ex.req.Reset()
		if err := requestFromHTTP(&ex.req, r, int64(f.policy.MaxRequestBody)); err != nil {
			http.Error(w, http.StatusText(StatusOf(err)), StatusOf(err))
			return
		}
		var nx Next
		if next != nil {
			nx = func(ctx context.Context, req *Request, resp *Response) error {
				return serveNext(ctx, next, r, req, resp, int64(f.policy.MaxResponseBody))
			}
		}
		if err := f.Handle(r.Context(), &ex.req, &ex.resp, nx); err != nil && !errors.Is(err, errNextFailed) {
			code := StatusOf(err)
			http.Error(w, http.StatusText(code), code)
			return
		}
		writeHTTP(w, &ex.resp)
	})
}

// ServeHTTP serves f as a complete endpoint: a guest that returns "next" gets
// a 502, since there is nothing behind it.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.Handler(nil).ServeHTTP(w, r)
}

// StatusOf maps an error from Handle to the HTTP status a client should see:
// 504 for a deadline, 413 for a request body over the cap, 503 for an
// exhausted pool or a closed function, 502 for a guest that failed or broke a
// limit, and 500 for anything else.
func StatusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrDeadline), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, ErrBodyTooLarge):
		if ie := (*InvokeError)(nil); errors.As(err, &ie) && ie.Phase == phaseReadRequest {
			return http.StatusRequestEntityTooLarge
		}
		return http.StatusBadGateway
	case errors.Is(err, ErrCanceled), errors.Is(err, context.Canceled):
		return 499 // the client closed the request; nobody reads this status
	case errors.Is(err, ErrPoolExhausted), errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrTrap), errors.Is(err, ErrMemoryLimit), errors.Is(err, ErrNoNext):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// errNextFailed marks a next handler whose failure was already written into
// the response.
var errNextFailed = errors.New("next handler failed")

func requestFromHTTP(dst *Request, r *http.Request, maxBody int64) error {
	dst.Method = append(dst.Method[:0], r.Method...)
	dst.URI = append(dst.URI[:0], r.URL.RequestURI()...)
	dst.Protocol = append(dst.Protocol[:0], r.Proto...)
	dst.RemoteAddr = append(dst.RemoteAddr[:0], r.RemoteAddr...)
	if r.Host != "" {
		dst.Header.AddString("Host", r.Host)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			dst.Header.AddString(k, v)
		}
	}
	if r.Body == nil {
		return nil
	}
	var buf bytes.Buffer
	buf.Grow(int(min(max(r.ContentLength, 0), maxBody)) + 1)
	n, err := io.Copy(&buf, io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return err
	}
	if n > maxBody {
		return &InvokeError{Phase: phaseReadRequest, Kind: ErrBodyTooLarge, Cause: fmt.Errorf("request body of more than %d bytes", maxBody)}
	}
	dst.Body = append(dst.Body[:0], buf.Bytes()...)
	return nil
}

// serveNext runs the next http.Handler on the guest's version of the request
// and captures its answer into resp.
func serveNext(ctx context.Context, next http.Handler, orig *http.Request, req *Request, resp *Response, maxBody int64) error {
	r, err := http.NewRequestWithContext(ctx, string(req.Method), string(req.URI), bytes.NewReader(req.Body))
	if err != nil {
		return err
	}
	r.RemoteAddr = orig.RemoteAddr
	r.Proto, r.ProtoMajor, r.ProtoMinor = orig.Proto, orig.ProtoMajor, orig.ProtoMinor
	r.TLS = orig.TLS
	for i := 0; i < req.Header.Len(); i++ {
		k, v := req.Header.At(i)
		if fieldname.EqualBytes(k, []byte("Host")) {
			r.Host = string(v)
			continue
		}
		r.Header.Add(string(k), string(v))
	}
	r.ContentLength = int64(len(req.Body))
	rec := &recorder{resp: resp, max: maxBody, header: http.Header{}}
	next.ServeHTTP(rec, r)
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.tooLarge {
		return ErrBodyTooLarge
	}
	return nil
}

// recorder captures a next handler's response into a Response.
type recorder struct {
	resp     *Response
	header   http.Header
	wrote    bool
	max      int64
	tooLarge bool
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(code int) {
	if rec.wrote {
		return
	}
	rec.wrote = true
	rec.resp.Status = code
	for k, vs := range rec.header {
		for _, v := range vs {
			rec.resp.Header.AddString(k, v)
		}
	}
}

func (rec *recorder) Write(b []byte) (int, error) {
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
	if int64(len(rec.resp.Body)+len(b)) > rec.max {
		rec.tooLarge = true
		return 0, ErrBodyTooLarge
	}
	rec.resp.Body = append(rec.resp.Body, b...)
	return len(b), nil
}

func writeHTTP(w http.ResponseWriter, resp *Response) {
	h := w.Header()
	for i := 0; i < resp.Header.Len(); i++ {
		k, v := resp.Header.At(i)
		h.Add(string(k), string(v))
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}
