package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/edged/edged/corpus"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
)

// errUnrecorded is the failure of a fetch the recording has no answer for.
var errUnrecorded = errors.New("replay: fetch not in the recording")

// Module is a Target that runs a function in-process, under its own limits
// (its limits.Policy: deadline, memory, body caps, egress allow-list and
// subrequest budget). Its fetches are answered from the record: the first
// recorded fetch of the same method and URL not used yet, with its recorded
// answer or failure; a fetch the record lacks fails as a network error would.
// A guest that returns "next" gets legacy's recorded answer, as in the shadow
// stage. Request headers the recording redacted are left out.
type Module struct {
	f *isolate.Function
}

// NewModule returns the Target of f. The caller keeps f and closes it.
func NewModule(f *isolate.Function) *Module { return &Module{f: f} }

// Answer implements Target.
func (m *Module) Answer(ctx context.Context, rec *corpus.Record) (Answer, error) {
	var req isolate.Request
	if err := isolateRequest(&req, rec); err != nil {
		return Answer{}, err
	}
	fx := &fetches{rec: rec, used: make([]bool, len(rec.Fetches)), egress: m.f.Policy().Egress}
	ctx = isolate.WithHostCalls(ctx, &isolate.HostCalls{Fetch: fx.fetch})
	var resp isolate.Response
	next := func(_ context.Context, _ *isolate.Request, resp *isolate.Response) error {
		return legacyAnswer(resp, &rec.Entry.Response)
	}
	err := m.f.Handle(ctx, &req, &resp, next)
	ans := Answer{Status: resp.Status, Body: resp.Body, Unrecorded: fx.unrecorded}
	for i := range resp.Header.Len() {
		k, v := resp.Header.At(i)
		ans.Header = append(ans.Header, corpus.NameValue{Name: string(k), Value: string(v)})
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return Answer{}, ctx.Err()
		}
		ans = Answer{Status: isolate.StatusOf(err), Err: err, Unrecorded: fx.unrecorded}
	}
	return ans, nil
}

// isolateRequest fills dst with rec's request.
func isolateRequest(dst *isolate.Request, rec *corpus.Record) error {
	r := &rec.Entry.Request
	uri, host, err := requestTarget(rec)
	if err != nil {
		return err
	}
	body, err := r.Body()
	if err != nil {
		return err
	}
	dst.Method = []byte(r.Method)
	dst.URI = []byte(uri)
	dst.Protocol = []byte(r.HTTPVersion)
	hasHost := false
	for _, h := range r.Headers {
		if skipRequestHeader(h) {
			continue
		}
		hasHost = hasHost || strings.EqualFold(h.Name, "Host")
		dst.Header.AddString(h.Name, h.Value)
	}
	if !hasHost && host != "" {
		dst.Header.AddString("Host", host)
	}
	dst.Body = body
	dst.RemoteAddr = []byte("127.0.0.1:0")
	return nil
}

// skipRequestHeader leaves out HTTP/2 pseudo-headers (HAR files from browsers
// have them), redacted values and framing, which the body sets.
func skipRequestHeader(h corpus.NameValue) bool {
	return strings.HasPrefix(h.Name, ":") || h.Value == corpus.Redacted ||
		strings.EqualFold(h.Name, "Content-Length") || strings.EqualFold(h.Name, "Transfer-Encoding")
}

// legacyAnswer fills resp with legacy's recorded answer, for a guest's next.
func legacyAnswer(resp *isolate.Response, r *corpus.Response) error {
	body, err := r.Body()
	if err != nil {
		return err
	}
	resp.Status = r.Status
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, "Content-Length") || strings.EqualFold(h.Name, "Transfer-Encoding") ||
			strings.EqualFold(h.Name, "Connection") {
			continue
		}
		resp.Header.AddString(h.Name, h.Value)
	}
	resp.Body = append(resp.Body[:0], body...)
	return nil
}

// fetches answers one invocation's fetches from its record.
type fetches struct {
	rec        *corpus.Record
	used       []bool
	egress     limits.Egress
	n          int
	unrecorded int
}

func (fx *fetches) fetch(_ context.Context, req *http.Request, _ isolate.FetchFunc) (*http.Response, error) {
	// The checks the egress client makes before it sends: the allow-list,
	// then the budget.
	if _, err := fx.egress.Allowed(req.URL); err != nil {
		return nil, err
	}
	fx.n++
	if fx.n > fx.egress.MaxSubrequests {
		return nil, fmt.Errorf("replay: %w", limits.ErrSubrequestBudget)
	}
	u := req.URL.String()
	for i := range fx.rec.Fetches {
		f := &fx.rec.Fetches[i]
		if fx.used[i] || !strings.EqualFold(f.Request.Method, req.Method) || f.Request.URL != u {
			continue
		}
		fx.used[i] = true
		if f.Response == nil {
			return nil, corpus.FetchErr(f.Error)
		}
		body, err := f.Response.Body()
		if err != nil {
			return nil, err
		}
		h := http.Header{}
		for _, kv := range f.Response.Headers {
			h.Add(kv.Name, kv.Value)
		}
		return &http.Response{
			StatusCode: f.Response.Status, Status: http.StatusText(f.Response.Status), Proto: f.Response.HTTPVersion,
			Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
		}, nil
	}
	fx.unrecorded++
	return nil, fmt.Errorf("%s %s: %w", req.Method, u, errUnrecorded)
}
