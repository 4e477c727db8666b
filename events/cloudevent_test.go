//go:build !noevents

package events

import (
	"context"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestRequest: the request an Invoker gets has the forwarded headers under
// their canonical names (the names edged publishes, an extension, the same
// name in two cases), none of the others, and the data as its body.
func TestRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   nats.Header
		want http.Header
	}{
		{"edged's names", nats.Header{
			HeaderID: {"1"}, HeaderSource: {"s"}, HeaderType: {"t"}, HeaderSpecVersion: {"1.0"},
			HeaderTime: {"2026-01-01T00:00:00Z"}, HeaderSubject: {"sub"}, HeaderPartitionKey: {"k"},
			HeaderTraceParent: {"tp"}, headerTraceState: {"ts"}, headerContentType: {"text/plain"},
			nats.MsgIdHdr: {"s 1"},
		}, http.Header{
			"Ce-Id": {"1"}, "Ce-Source": {"s"}, "Ce-Type": {"t"}, "Ce-Specversion": {"1.0"},
			"Ce-Time": {"2026-01-01T00:00:00Z"}, "Ce-Subject": {"sub"}, "Ce-Partitionkey": {"k"},
			"Traceparent": {"tp"}, "Tracestate": {"ts"}, "Content-Type": {"text/plain"},
		}},
		{"an extension and other cases", nats.Header{
			"ce-myext": {"a", "b"}, "CE-ID": {"2"}, "TraceParent": {"tp"}, "X-Other": {"no"},
		}, http.Header{"Ce-Myext": {"a", "b"}, "Ce-Id": {"2"}, "Traceparent": {"tp"}}},
		{"one name in two cases", nats.Header{"ce-id": {"1"}, "Ce-Id": {"2"}},
			http.Header{"Ce-Id": {"1", "2"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := request(context.Background(), tc.in, []byte("data"))
			if err != nil {
				t.Fatal(err)
			}
			if len(req.Header) != len(tc.want) {
				t.Errorf("headers %v, want %v", req.Header, tc.want)
			}
			for k, want := range tc.want {
				got := req.Header[k]
				slices.Sort(got) // the two cases of one name come in map order
				if !slices.Equal(got, want) {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			body, err := io.ReadAll(req.Body)
			if err != nil || string(body) != "data" || req.ContentLength != 4 {
				t.Errorf("body %q (%d bytes), %v; want %q", body, req.ContentLength, err, "data")
			}
			if req.Method != http.MethodPost || req.URL.RequestURI() != "/" {
				t.Errorf("%s %s, want POST /", req.Method, req.URL.RequestURI())
			}
		})
	}
	t.Run("values do not overlap", func(t *testing.T) {
		req, err := request(context.Background(), nats.Header{"ce-a": {"1"}, "ce-b": {"2"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = append(req.Header["Ce-A"], "x")
		_ = append(req.Header["Ce-B"], "x")
		if a, b := req.Header.Get("Ce-A"), req.Header.Get("Ce-B"); a != "1" || b != "2" {
			t.Errorf("after appends: Ce-A %q, Ce-B %q; want 1 and 2", a, b)
		}
	})
}
