package router

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"

	"github.com/edged/edged/internal/upstreamtest"
)

// TestMetricsFamilies reads the Server's metrics as package admin serves
// them on GET /metrics.
func TestMetricsFamilies(t *testing.T) {
	mono := upstreamtest.StartMonolith(t)
	hello := loadFunction(t, guestHelloC, isolate.FunctionOptions{})
	e := startEdge(t, []strangler.Route{
		{Name: "legacy", Path: "/hello", Upstream: "mono", Function: "hello", Stage: strangler.StageShadow},
		{Name: "iso", Path: "/fast", Function: "hello", Stage: strangler.StageRetired},
	}, &World{
		Upstreams: map[string]*proxy.Upstream{"mono": upstreamFor(t, mono)},
		Functions: map[string]*isolate.Function{"hello": hello},
	})
	send(t, "GET", "http://"+e.addr+"/hello", nil, "")
	send(t, "GET", "http://"+e.addr+"/fast", nil, "")
	e.waitMirror(t, 1)
	hs := httptest.NewServer(e.srv.MetricsHandler())
	defer hs.Close()
	r := send(t, "GET", hs.URL, nil, "")
	for _, want := range []string{
		`edged_requests_total{code_class="2xx",route="iso",target="isolate"} 1`,
		`edged_request_duration_seconds_bucket{route="legacy",target="legacy",le="+Inf"} 1`,
		`edged_isolate_invocations_total{function="hello",start="cold"}`,
		`edged_isolate_limit_breaches_total{function="hello",kind="deadline"} 0`,
		`edged_fallbacks_total{route="iso"} 0`,
		`edged_shadow_comparisons_total{result="mismatch",route="legacy"} 1`,
		`edged_route_stage{route="legacy"} 1`,
		`edged_route_stage{route="iso"} 4`,
		`edged_route_weight{route="iso"} 0`,
		`edged_upstream_connections{upstream="mono"} 1`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("GET /metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", r.body)
	}
}
