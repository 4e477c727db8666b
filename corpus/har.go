package corpus

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Entry is a HAR 1.2 entry (http://www.softwareishard.com/blog/har-12-spec/):
// one request and its answer. Fields edged does not use are kept when they
// are in the HAR 1.2 spec; custom fields start with "_", as the spec asks.
type Entry struct {
	StartedDateTime time.Time `json:"startedDateTime"`
	// Time is the whole exchange in milliseconds.
	Time     float64  `json:"time"`
	Request  Request  `json:"request"`
	Response Response `json:"response"`
	Cache    struct{} `json:"cache"`
	Timings  Timings  `json:"timings"`
	Comment  string   `json:"comment,omitempty"`
}

// Timings are a HAR entry's timings in milliseconds; -1 means not known.
type Timings struct {
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
}

// NameValue is a HAR header, query parameter or form parameter.
type NameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Cookie is a HAR cookie. edged never records cookies (the Cookie and
// Set-Cookie headers are always redacted), and redaction empties the cookie
// lists of imported entries.
type Cookie struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Request is a HAR request. URL is absolute.
type Request struct {
	Method      string      `json:"method"`
	URL         string      `json:"url"`
	HTTPVersion string      `json:"httpVersion"`
	Cookies     []Cookie    `json:"cookies"`
	Headers     []NameValue `json:"headers"`
	QueryString []NameValue `json:"queryString"`
	PostData    *PostData   `json:"postData,omitempty"`
	HeadersSize int64       `json:"headersSize"`
	BodySize    int64       `json:"bodySize"`
}

// PostData is a HAR request body. Text holds the body; a body that is not
// UTF-8 is base64 in Text with Encoding "base64" (a custom field: HAR 1.2 has
// encoding on response content only).
type PostData struct {
	MimeType string      `json:"mimeType"`
	Params   []NameValue `json:"params,omitempty"`
	Text     string      `json:"text"`
	Encoding string      `json:"_encoding,omitempty"`
}

// Response is a HAR response.
type Response struct {
	Status      int         `json:"status"`
	StatusText  string      `json:"statusText"`
	HTTPVersion string      `json:"httpVersion"`
	Cookies     []Cookie    `json:"cookies"`
	Headers     []NameValue `json:"headers"`
	Content     Content     `json:"content"`
	RedirectURL string      `json:"redirectURL"`
	HeadersSize int64       `json:"headersSize"`
	BodySize    int64       `json:"bodySize"`
	// Truncated is set when the body was not recorded whole (a streamed
	// answer): replay does not compare its body.
	Truncated bool `json:"_truncated,omitempty"`
}

// Content is a HAR response body: Text, base64 when Encoding is "base64".
type Content struct {
	Size     int64  `json:"size"`
	MimeType string `json:"mimeType"`
	Text     string `json:"text,omitempty"`
	Encoding string `json:"encoding,omitempty"`
}

// NewRequest returns the HAR request of method and an absolute rawURL, with
// header in order and body (nil or empty: none).
func NewRequest(method, rawURL, proto string, header []NameValue, body []byte) Request {
	r := Request{
		Method:      method,
		URL:         rawURL,
		HTTPVersion: orString(proto, "HTTP/1.1"),
		Cookies:     []Cookie{},
		Headers:     orEmpty(header),
		QueryString: []NameValue{},
		HeadersSize: -1,
		BodySize:    int64(len(body)),
	}
	if u, err := url.Parse(rawURL); err == nil {
		for k, vs := range u.Query() {
			for _, v := range vs {
				r.QueryString = append(r.QueryString, NameValue{k, v})
			}
		}
	}
	if len(body) > 0 {
		text, enc := encodeBody(body)
		r.PostData = &PostData{MimeType: headerValue(header, "Content-Type"), Text: text, Encoding: enc}
	}
	return r
}

// NewResponse returns the HAR response of status with header in order and body.
func NewResponse(status int, proto string, header []NameValue, body []byte) Response {
	text, enc := encodeBody(body)
	return Response{
		Status:      status,
		StatusText:  http.StatusText(status),
		HTTPVersion: orString(proto, "HTTP/1.1"),
		Cookies:     []Cookie{},
		Headers:     orEmpty(header),
		Content:     Content{Size: int64(len(body)), MimeType: headerValue(header, "Content-Type"), Text: text, Encoding: enc},
		RedirectURL: headerValue(header, "Location"),
		HeadersSize: -1,
		BodySize:    int64(len(body)),
	}
}

// Body returns the request body.
func (r *Request) Body() ([]byte, error) {
	if r.PostData == nil {
		return nil, nil
	}
	if len(r.PostData.Params) > 0 && r.PostData.Text == "" {
		// A HAR form without text: rebuild the urlencoded body.
		v := url.Values{}
		for _, p := range r.PostData.Params {
			v.Add(p.Name, p.Value)
		}
		return []byte(v.Encode()), nil
	}
	return decodeBody(r.PostData.Text, r.PostData.Encoding)
}

// Body returns the response body.
func (r *Response) Body() ([]byte, error) { return decodeBody(r.Content.Text, r.Content.Encoding) }

// Header returns the values of the header called name (any case), joined
// with ", ", and whether there was any.
func Header(h []NameValue, name string) (string, bool) {
	var sb strings.Builder
	found := false
	for _, kv := range h {
		if strings.EqualFold(kv.Name, name) {
			if found {
				sb.WriteString(", ")
			}
			sb.WriteString(kv.Value)
			found = true
		}
	}
	return sb.String(), found
}

func headerValue(h []NameValue, name string) string { v, _ := Header(h, name); return v }

func encodeBody(b []byte) (text, encoding string) {
	if len(b) == 0 {
		return "", ""
	}
	if utf8.Valid(b) {
		return string(b), ""
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

func decodeBody(text, encoding string) ([]byte, error) {
	switch encoding {
	case "":
		if text == "" {
			return nil, nil
		}
		return []byte(text), nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("body: unknown encoding %q", encoding)
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orEmpty(h []NameValue) []NameValue {
	if h == nil {
		return []NameValue{}
	}
	return h
}
