//go:build wasip1

package guest

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"unsafe"

	"github.com/edged/edged/isolate/guest/internal/abi"
)

// hostRead calls a buf/limit host getter, first with the shared scratch
// buffer, then, if the value did not fit, with a buffer of the exact size.
// The result aliases rt.scratch when it fit: convert or copy it before the
// next host read.
func hostRead(get func(unsafe.Pointer, uint32) uint32) []byte {
	b := rt.scratch
	n := get(ptr(b), uint32(len(b)))
	if n <= uint32(len(b)) {
		return b[:n]
	}
	b = make([]byte, n)
	n = get(ptr(b), n)
	return b[:min(n, uint32(len(b)))]
}

// readHeaders returns the headers of the given kind, with canonical names as
// net/http keeps them.
func readHeaders(kind int32) http.Header {
	b := rt.scratch
	cl := hostGetHeaderNames(kind, ptr(b), uint32(len(b)))
	count, n := abi.SplitCountLen(cl)
	if count == 0 {
		return http.Header{}
	}
	if n > uint32(len(b)) {
		b = make([]byte, n)
		cl = hostGetHeaderNames(kind, ptr(b), n)
		count, n = abi.SplitCountLen(cl)
		if n > uint32(len(b)) {
			panic("guest: header names changed while reading")
		}
	}
	names := make([]string, 0, count)
	if err := abi.ParseList(b[:n], count, func(s []byte) {
		names = append(names, string(s))
	}); err != nil {
		panic("guest: get_header_names: " + err.Error())
	}
	h := make(http.Header, len(names))
	for _, name := range names {
		key := http.CanonicalHeaderKey(name)
		h[key] = append(h[key], readValues(kind, name)...)
	}
	return h
}

func readValues(kind int32, name string) []string {
	b := rt.scratch
	count, n := abi.SplitCountLen(hostGetHeaderValues(kind, name, ptr(b), uint32(len(b))))
	if count == 0 {
		return nil
	}
	if n > uint32(len(b)) {
		b = make([]byte, n)
		count, n = abi.SplitCountLen(hostGetHeaderValues(kind, name, ptr(b), n))
		if n > uint32(len(b)) {
			panic("guest: header values changed while reading")
		}
	}
	vs := make([]string, 0, count)
	if err := abi.ParseList(b[:n], count, func(s []byte) {
		vs = append(vs, string(s))
	}); err != nil {
		panic("guest: get_header_values: " + err.Error())
	}
	return vs
}

// newRequest builds the request from host calls. Its body is read from the
// host only when the handler reads it; in middleware mode the first read
// enables request buffering so the upstream still receives the body.
func newRequest(middleware bool) *http.Request {
	method := string(hostRead(hostGetMethod))
	uri := string(hostRead(hostGetURI))
	proto := string(hostRead(hostGetProtocolVersion))
	addr := string(hostRead(hostGetSourceAddr))
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		// The host passed the URI on unvalidated; keep the raw form so the
		// handler can still see and answer it.
		u = &url.URL{Path: uri}
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok {
		major, minor = 1, 1
	}
	h := readHeaders(abi.HeaderKindRequest)
	host := h.Get("Host")
	delete(h, "Host") // as net/http: the Host header lives in r.Host
	if host == "" {
		host = u.Host
	}
	cl := int64(-1)
	if v := h.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			cl = n
		}
	}
	var body io.ReadCloser = http.NoBody
	if cl != 0 {
		body = &requestBody{buffer: middleware}
	}
	return &http.Request{
		Method:        method,
		URL:           u,
		Proto:         proto,
		ProtoMajor:    major,
		ProtoMinor:    minor,
		Header:        h,
		Body:          body,
		ContentLength: cl,
		Host:          host,
		RemoteAddr:    addr,
		RequestURI:    uri,
	}
}

// requestBody reads the request body from the host on demand.
type requestBody struct {
	buffer  bool // enable FeatureBufferRequest before the first read
	started bool
	eof     bool
}

func (b *requestBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil // read_body traps on a zero limit
	}
	if !b.started {
		b.started = true
		if b.buffer {
			hostEnableFeatures(uint32(FeatureBufferRequest))
		}
	}
	eof, n := abi.SplitEOFLen(hostReadBody(abi.BodyKindRequest, ptr(p), uint32(len(p))))
	if eof {
		b.eof = true
		if n == 0 {
			return 0, io.EOF
		}
	}
	return int(n), nil
}

func (b *requestBody) Close() error { return nil }

// original is what a middleware's request looked like before the function
// ran, to push only what changed.
type original struct {
	method string
	uri    string
	host   string
	header http.Header
	body   io.ReadCloser
}

func snapshot(r *http.Request) original {
	return original{
		method: r.Method,
		uri:    r.URL.RequestURI(),
		host:   r.Host,
		header: r.Header.Clone(),
		body:   r.Body,
	}
}

// pushRequest sends the middleware's changes to the host before next.
func pushRequest(o original, r *http.Request) {
	if r.Method != o.method && r.Method != "" {
		hostSetMethod(r.Method)
	}
	if r.URL != nil {
		if uri := r.URL.RequestURI(); uri != o.uri {
			hostSetURI(uri)
		}
	}
	if r.Host != o.host && r.Host != "" {
		hostSetHeaderValue(abi.HeaderKindRequest, "Host", r.Host)
	}
	abi.DiffHeader(o.header, r.Header, func(op abi.HeaderOp) {
		pushHeader(abi.HeaderKindRequest, op)
	})
	if r.Body != o.body && r.Body != nil {
		// The function replaced the body: the first write_body in
		// handle_request overwrites the request body on the host, and the
		// upstream must not see the old length.
		n := copyToHost(abi.BodyKindRequest, r.Body)
		r.Body.Close()
		hostSetHeaderValue(abi.HeaderKindRequest, "Content-Length", strconv.FormatInt(n, 10))
	}
}

func pushHeader(kind int32, op abi.HeaderOp) {
	if op.Values == nil {
		hostRemoveHeader(kind, op.Name)
		return
	}
	hostSetHeaderValue(kind, op.Name, op.Values[0])
	for _, v := range op.Values[1:] {
		hostAddHeaderValue(kind, op.Name, v)
	}
}

// copyToHost writes everything r yields with write_body and returns the
// count of bytes written.
func copyToHost(kind int32, r io.Reader) int64 {
	buf := rt.scratch
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			hostWriteBody(kind, ptr(buf), uint32(n))
			total += int64(n)
		}
		if err != nil {
			break
		}
	}
	if total == 0 {
		hostWriteBody(kind, nil, 0) // an empty body still replaces the old one
	}
	return total
}
