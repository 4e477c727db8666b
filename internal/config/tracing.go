package config

import (
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edged/edged/limits"
)

// Tracing is [tracing]: where edged sends the spans of the requests it
// traces (OTLP over HTTP, protobuf). With no endpoint nothing is exported,
// but incoming traceparent headers are still continued and passed on.
type Tracing struct {
	// Endpoint is the collector's OTLP/HTTP URL, http:// or https:// with a
	// host. A URL without a path ("http://127.0.0.1:4318") gets the standard
	// "/v1/traces"; a URL with a path is used as is. No user info, query or
	// fragment (put credentials in Headers). Empty (the default) exports
	// nothing.
	Endpoint string `toml:"endpoint"`
	// ServiceName is the service.name resource attribute. Default "edged";
	// if set, must not be empty.
	ServiceName string `toml:"service_name"`
	// SampleRatio is the share (0..1) of the traces edged starts that are
	// sampled. A client's traceparent keeps its own sampled flag when
	// AcceptIncoming is set. Default 1.
	SampleRatio float64 `toml:"sample_ratio"`
	// AcceptIncoming continues the trace of a client's traceparent (and its
	// sampled flag); false starts a new trace for every request, for an
	// edge whose clients should not steer tracing. Default true.
	AcceptIncoming bool `toml:"accept_incoming"`
	// Timeout bounds one export to the collector, retries included.
	// Default "10s"; if set, must be > 0.
	Timeout limits.Duration `toml:"timeout"`
	// Headers are sent with every export, typically an API key of the
	// collector. Names must be header tokens; values must not contain
	// CR, LF or NUL. Values are secrets: validation messages never quote
	// them, and nothing should log them.
	Headers map[string]string `toml:"headers"`
}

// Tracing defaults.
const (
	defaultTracingServiceName = "edged"
	defaultTracingSampleRatio = 1.0
	defaultTracingTimeout     = 10 * time.Second
)

func defaultTracing(c *Config, set map[string]bool) {
	t := &c.Tracing
	if !set["tracing.service_name"] {
		t.ServiceName = defaultTracingServiceName
	}
	if !set["tracing.sample_ratio"] {
		t.SampleRatio = defaultTracingSampleRatio
	}
	if !set["tracing.accept_incoming"] {
		t.AcceptIncoming = true
	}
	if !set["tracing.timeout"] {
		t.Timeout = limits.Duration(defaultTracingTimeout)
	}
}

func validateTracing(p *problems, t *Tracing) {
	if t.Endpoint != "" {
		if err := checkTracingEndpoint(t.Endpoint); err != nil {
			p.add("tracing.endpoint", "%w", err)
		}
	}
	if strings.TrimSpace(t.ServiceName) == "" {
		p.add("tracing.service_name", "must not be empty")
	}
	if v := t.SampleRatio; math.IsNaN(v) || v < 0 || v > 1 {
		p.add("tracing.sample_ratio", "must be between 0 and 1")
	}
	p.positive("tracing.timeout", int64(t.Timeout))
	for _, k := range sortedKeys(t.Headers) {
		if k == "" || !isToken(k) {
			p.add("tracing.headers."+keyPart(k), "is not a header name")
		}
		if strings.ContainsAny(t.Headers[k], "\r\n\x00") {
			// The value is a secret: say what is wrong, not what it is.
			p.add("tracing.headers."+keyPart(k), "value must not contain CR, LF or NUL")
		}
	}
}

// checkTracingEndpoint accepts what the OTLP exporter can use as is. The
// message quotes the URL with any user info redacted, since it may end up
// in logs.
func checkTracingEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL (want http://host:port or a full https:// URL)")
	}
	var why string
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		why = "scheme must be http or https"
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		why = "missing host"
	case u.User != nil:
		why = "user info is not allowed (send credentials in tracing.headers)"
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		why = "query and fragment are not allowed"
	case strings.HasSuffix(u.Host, ":"):
		why = "empty port"
	}
	if why == "" {
		if port := u.Port(); port != "" {
			if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
				why = "port must be a number from 1 to 65535"
			}
		}
	}
	if why != "" {
		if u.User != nil {
			u.User = url.User("REDACTED")
		}
		return errors.New(strconv.Quote(u.String()) + ": " + why)
	}
	return nil
}
