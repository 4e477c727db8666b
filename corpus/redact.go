package corpus

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/edged/edged/shadow"
)

// Redacted is the value redaction writes in place of a header value or a JSON
// value.
const Redacted = "[redacted]"

// AlwaysRedacted are the headers every Writer redacts, whatever its
// Redaction says: credentials and sessions.
var AlwaysRedacted = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}

// Redaction says what to replace before a record is written.
type Redaction struct {
	// Headers are header names (any case) whose values are replaced, in
	// requests, answers and fetches, besides AlwaysRedacted.
	Headers []string
	// JSONPaths are positions in JSON bodies (request, answer, fetches)
	// whose values are replaced, in the grammar of the shadow comparison's
	// ignore paths: "$.password", "$.cards[*].number", "$.auth.*".
	JSONPaths []string
}

// redactor is a compiled Redaction.
type redactor struct {
	headers []string // lower case
	paths   []shadow.Path
	list    []string // Record.Redacted
}

func compileRedaction(r Redaction) (*redactor, error) {
	rd := &redactor{}
	for _, h := range append(slices.Clone(AlwaysRedacted), r.Headers...) {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			return nil, errors.New("redact: empty header name")
		}
		if !slices.Contains(rd.headers, h) {
			rd.headers = append(rd.headers, h)
			rd.list = append(rd.list, "header:"+h)
		}
	}
	var errs []error
	for _, p := range r.JSONPaths {
		jp, err := shadow.ParsePath(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("redact: %w", err))
			continue
		}
		rd.paths = append(rd.paths, jp)
		rd.list = append(rd.list, p)
	}
	return rd, errors.Join(errs...)
}

// ValidateRedaction checks r as NewWriter would.
func ValidateRedaction(r Redaction) error {
	_, err := compileRedaction(r)
	return err
}

// record redacts rec in place.
func (rd *redactor) record(rec *Record) {
	rd.request(&rec.Entry.Request)
	rd.response(&rec.Entry.Response)
	for i := range rec.Fetches {
		rd.request(&rec.Fetches[i].Request)
		if r := rec.Fetches[i].Response; r != nil {
			rd.response(r)
		}
	}
	rec.Redacted = rd.list
}

func (rd *redactor) request(r *Request) {
	rd.header(r.Headers)
	r.Cookies = []Cookie{}
	if p := r.PostData; p != nil && p.Encoding == "" {
		if b, ok := shadow.Redact([]byte(p.Text), rd.paths, Redacted); ok {
			p.Text = string(b)
		}
	}
}

func (rd *redactor) response(r *Response) {
	rd.header(r.Headers)
	r.Cookies = []Cookie{}
	if r.Content.Encoding == "" {
		if b, ok := shadow.Redact([]byte(r.Content.Text), rd.paths, Redacted); ok {
			r.Content.Text = string(b)
		}
	}
}

func (rd *redactor) header(h []NameValue) {
	for i := range h {
		if rd.secretHeader(h[i].Name) {
			h[i].Value = Redacted
		}
	}
}

func (rd *redactor) secretHeader(name string) bool {
	for _, h := range rd.headers {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}
