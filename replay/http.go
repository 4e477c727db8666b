package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/edged/edged/corpus"
)

// DefaultMaxBody bounds the answer body HTTP reads, in bytes.
const DefaultMaxBody = 64 << 20

// HTTP is a Target that sends each recorded request to a live deployment:
// the recorded method, path, query, headers (those the recording redacted
// left out) and body, to Base's scheme and host. Redirects are not followed.
type HTTP struct {
	base   *url.URL
	client *http.Client
	max    int64
}

// NewHTTP returns the Target of base, an http or https URL, sending with c
// (nil: a client with a 30s timeout).
func NewHTTP(base string, c *http.Client) (*HTTP, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("replay: %q is not an http(s) URL", base)
	}
	if c == nil {
		c = &http.Client{Timeout: defaultHTTPTimeout}
	}
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &HTTP{base: u, client: &cc, max: DefaultMaxBody}, nil
}

// Answer implements Target. A request that gets no answer is an error.
func (h *HTTP) Answer(ctx context.Context, rec *corpus.Record) (Answer, error) {
	uri, _, err := requestTarget(rec)
	if err != nil {
		return Answer{}, err
	}
	body, err := rec.Entry.Request.Body()
	if err != nil {
		return Answer{}, err
	}
	target := strings.TrimSuffix(h.base.Scheme+"://"+h.base.Host+h.base.Path, "/") + uri
	req, err := http.NewRequestWithContext(ctx, rec.Entry.Request.Method, target, bytes.NewReader(body))
	if err != nil {
		return Answer{}, err
	}
	for _, kv := range rec.Entry.Request.Headers {
		switch {
		case skipRequestHeader(kv):
		case strings.EqualFold(kv.Name, "Host"):
			req.Host = kv.Value
		default:
			req.Header.Add(kv.Name, kv.Value)
		}
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, h.max+1))
	if err != nil {
		return Answer{}, err
	}
	if int64(len(b)) > h.max {
		return Answer{}, errors.New("replay: answer body over 64 MiB")
	}
	ans := Answer{Status: resp.StatusCode, Body: b}
	for k, vs := range resp.Header {
		for _, v := range vs {
			ans.Header = append(ans.Header, corpus.NameValue{Name: k, Value: v})
		}
	}
	return ans, nil
}

// defaultHTTPTimeout bounds one replayed request against a deployment.
const defaultHTTPTimeout = 30 * time.Second
