package isolate

// Request is the request a guest sees and may modify. Byte slices are owned by
// the Request; fill them with the Set methods or append to them. A Request is
// reusable after Reset and not safe for concurrent use.
type Request struct {
	// Method is the request method, e.g. "GET".
	Method []byte
	// URI is the request target as sent by the client: path and query, raw.
	URI []byte
	// Protocol is the protocol version, e.g. "HTTP/1.1".
	Protocol []byte
	// Header holds the request header fields.
	Header Header
	// Body is the whole request body. Handle refuses a body over the
	// function's MaxRequestBody with ErrBodyTooLarge.
	Body []byte
	// RemoteAddr is the client address as "ip:port".
	RemoteAddr []byte
}

// Reset clears r, keeping its storage.
func (r *Request) Reset() {
	r.Method = r.Method[:0]
	r.URI = r.URI[:0]
	r.Protocol = r.Protocol[:0]
	r.Header.Reset()
	r.Body = r.Body[:0]
	r.RemoteAddr = r.RemoteAddr[:0]
}

// CopyTo makes dst a deep copy of r.
func (r *Request) CopyTo(dst *Request) {
	dst.Method = append(dst.Method[:0], r.Method...)
	dst.URI = append(dst.URI[:0], r.URI...)
	dst.Protocol = append(dst.Protocol[:0], r.Protocol...)
	r.Header.CopyTo(&dst.Header)
	dst.Body = append(dst.Body[:0], r.Body...)
	dst.RemoteAddr = append(dst.RemoteAddr[:0], r.RemoteAddr...)
}

// Response is the response a guest writes, or, after the guest returned
// "next", the upstream's response that handle_response may modify. A Response
// is reusable after Reset and not safe for concurrent use.
type Response struct {
	// Status is the HTTP status code. Handle starts it at 200.
	Status int
	// Header holds the response header fields.
	Header Header
	// Body is the whole response body, capped by the function's
	// MaxResponseBody.
	Body []byte
}

// Reset clears r, keeping its storage. Status becomes 200, the default the
// http-wasm ABI gives a guest.
func (r *Response) Reset() {
	r.Status = 200
	r.Header.Reset()
	r.Body = r.Body[:0]
}
