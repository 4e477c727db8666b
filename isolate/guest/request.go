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
// next host read. It is small enough to inline, which turns the call through
// get into a direct one: function calls are what a Go guest's time goes to.
func hostRead(get func(unsafe.Pointer, uint32) uint32) []byte {
	b := rt.scratch
	n := get(ptr(b), uint32(len(b)))
	if n <= uint32(len(b)) {
		return b[:n]
	}
	return hostReadLarge(get, n)
}

// fitted returns the value a buf/limit getter wrote into rt.scratch when it
// returned n, or reads it again into a large enough buffer. newRequest calls
// the getters itself and then fitted, instead of hostRead, because a call
// through a function value is not inlined and calls are what a Go guest's
// time goes to.
func fitted(get func(unsafe.Pointer, uint32) uint32, n uint32) []byte {
	if n <= uint32(len(rt.scratch)) {
		return rt.scratch[:n]
	}
	return hostReadLarge(get, n)
}

// hostReadLarge reads a value of n bytes, too large for rt.scratch.
func hostReadLarge(get func(unsafe.Pointer, uint32) uint32, n uint32) []byte {
	b := make([]byte, n)
	n = get(ptr(b), n)
	return b[:min(n, uint32(len(b)))]
}

// canonCap bounds the cache of canonical header names, so that a client
// sending ever new names cannot grow an instance's memory without limit.
const canonCap = 256

// canonicalKey returns http.CanonicalHeaderKey of the raw name, from a
// per-instance cache when it was seen before: the lookup does not allocate,
// and clients send the same few names on every request, in lower case over
// HTTP/2.
func canonicalKey(raw []byte) string {
	if k, ok := rt.canon[string(raw)]; ok {
		return k
	}
	k := http.CanonicalHeaderKey(string(raw))
	if len(rt.canon) < canonCap {
		if rt.canon == nil {
			rt.canon = make(map[string]string)
		}
		rt.canon[string(raw)] = k
	}
	return k
}

// readHeaders returns the headers of the given kind, with canonical names as
// net/http keeps them. The names are read into rt.names, not rt.scratch,
// because the values of each are read into rt.scratch while the names are
// walked.
func readHeaders(kind int32) http.Header {
	b := rt.names
	cl := hostGetHeaderNames(kind, ptr(b), uint32(len(b)))
	count, n := abi.SplitCountLen(cl)
	if count == 0 {
		return http.Header{}
	}
	if n > uint32(len(b)) {
		b = make([]byte, n)
		rt.names = b
		cl = hostGetHeaderNames(kind, ptr(b), n)
		count, n = abi.SplitCountLen(cl)
		if n > uint32(len(b)) {
			panic("guest: header names changed while reading")
		}
	}
	h := make(http.Header, count)
	// Most headers have one value: one slab holds them, cut with a full
	// slice expression so that a handler appending to one header cannot
	// overwrite the next.
	slab := make([]string, 0, count)
	if err := abi.ParseList(b[:n], count, func(raw []byte) {
		key := canonicalKey(raw)
		// raw lives in rt.names, which nothing writes until the walk ends;
		// the host copies the name out during the call.
		name := unsafe.String(unsafe.SliceData(raw), len(raw))
		var vs []string
		vs, slab = readValues(kind, name, slab)
		if old, ok := h[key]; ok {
			vs = append(old[:len(old):len(old)], vs...)
		}
		h[key] = vs
	}); err != nil {
		panic("guest: get_header_names: " + err.Error())
	}
	return h
}

// readValues returns the values of the header name, as substrings of one
// string (one allocation per header, not per value), in slab when it has
// room; it returns slab with the values appended.
func readValues(kind int32, name string, slab []string) (vs, rest []string) {
	b := rt.scratch
	count, n := abi.SplitCountLen(hostGetHeaderValues(kind, name, ptr(b), uint32(len(b))))
	if count == 0 {
		return nil, slab
	}
	if n > uint32(len(b)) {
		b = make([]byte, n)
		count, n = abi.SplitCountLen(hostGetHeaderValues(kind, name, ptr(b), n))
		if n > uint32(len(b)) {
			panic("guest: header values changed while reading")
		}
	}
	all := string(b[:n])
	if cap(slab)-len(slab) < int(count) {
		slab = make([]string, 0, count)
	}
	start := len(slab)
	off := 0
	if err := abi.ParseList(b[:n], count, func(s []byte) {
		slab = append(slab, all[off:off+len(s)])
		off += len(s) + 1
	}); err != nil {
		panic("guest: get_header_values: " + err.Error())
	}
	return slab[start:len(slab):len(slab)], slab
}

// requestAlloc holds what newRequest allocates for every request, so that
// it is one allocation instead of three.
type requestAlloc struct {
	req  http.Request
	url  url.URL
	body requestBody
}

// newRequest builds the request from host calls. Its body is read from the
// host only when the handler reads it; in middleware mode the first read
// enables request buffering so the upstream still receives the body.
//
// Everything it returns is newly allocated or immutable, so a handler may
// keep the request after it returns (nothing is pooled); only its cost is
// cut: constant method and protocol strings, the URI and client address
// shared with the previous request when equal, the parsed URL copied from
// the previous request's when the URI is the same, and one allocation for
// the request, its URL and its body reader.
func newRequest(middleware bool) *http.Request {
	scratch, limit := ptr(rt.scratch), uint32(len(rt.scratch))
	method := abi.Method(fitted(hostGetMethod, hostGetMethod(scratch, limit)))
	// The URI and the client address often repeat the previous request's:
	// then the previous string is shared, which is safe as strings are
	// immutable, instead of allocating an equal one.
	sameURI := true
	if b := fitted(hostGetURI, hostGetURI(scratch, limit)); string(b) != rt.uri {
		rt.uri, sameURI = string(b), false
	}
	uri := rt.uri
	proto, major, minor, ok := "HTTP/1.1", 1, 1, true
	if b := fitted(hostGetProtocolVersion, hostGetProtocolVersion(scratch, limit)); !abi.IsHTTP11(b) {
		proto, major, minor, ok = abi.Proto(b)
	}
	if !ok {
		major, minor = 1, 1
	}
	if b := fitted(hostGetSourceAddr, hostGetSourceAddr(scratch, limit)); string(b) != rt.addr {
		rt.addr = string(b)
	}
	addr := rt.addr
	a := new(requestAlloc)
	u := &a.url
	switch {
	case sameURI && rt.urlValid:
		*u = rt.url // a copy: the handler may change its URL
	case abi.ParseOriginForm(uri, u):
	default:
		if p, err := url.ParseRequestURI(uri); err == nil {
			*u = *p
		} else {
			// The host passed the URI on unvalidated; keep the raw form so
			// the handler can still see and answer it.
			*u = url.URL{Path: uri}
		}
	}
	if !sameURI || !rt.urlValid {
		rt.url, rt.urlValid = *u, true
	}
	h := readHeaders(abi.HeaderKindRequest)
	var host string
	cl := int64(-1)
	if len(h) > 0 { // the map calls cost even on an empty map
		if vs := h["Host"]; len(vs) > 0 {
			host = vs[0]
		}
		delete(h, "Host") // as net/http: the Host header lives in r.Host
		if vs := h["Content-Length"]; len(vs) > 0 && vs[0] != "" {
			if n, err := strconv.ParseInt(vs[0], 10, 64); err == nil && n >= 0 {
				cl = n
			}
		}
	}
	if host == "" {
		host = u.Host
	}
	var body io.ReadCloser = http.NoBody
	if cl != 0 {
		a.body = requestBody{buffer: middleware}
		body = &a.body
	}
	a.req = http.Request{
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
	return &a.req
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
