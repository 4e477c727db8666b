package admin

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edged/edged/cost"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/router"
	"github.com/edged/edged/strangler"
)

func TestAdminCost(t *testing.T) {
	env := startAdmin(t, nil)
	if code, _, _ := env.do(t, "GET", "/v1/cost", "", ""); code != 401 {
		t.Errorf("GET /v1/cost without token = %d, want 401", code)
	}
	code, _, body := env.do(t, "GET", "/v1/cost", adminToken, "")
	if code != 200 {
		t.Fatalf("GET /v1/cost = %d, want 200", code)
	}
	if _, ok := body["pricing"].(map[string]any); !ok {
		t.Errorf("GET /v1/cost body %v lacks pricing", body)
	}
}

// costEnv is a live edge with one function on two routes, and the admin API
// in front of its Server.
type costEnv struct {
	e     *edge
	admin string
}

func startCostEnv(t *testing.T, p *cost.Pricing) *costEnv {
	t.Helper()
	hello := loadHello(t, isolate.FunctionOptions{BillingGranularity: 10 * time.Millisecond})
	e := startEdge(t, []strangler.Route{
		{Name: "iso", Path: "/fast", Function: "hello", Stage: strangler.StageRetired},
		{Name: "other", Path: "/other", Function: "hello", Stage: strangler.StageRetired},
	}, &router.World{Functions: map[string]*isolate.Function{"hello": hello}})
	a, err := New(Config{Table: e.table, Server: e.srv, Token: []byte(adminToken), Pricing: p})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a)
	t.Cleanup(hs.Close)
	return &costEnv{e: e, admin: hs.URL}
}

func (c *costEnv) report(t *testing.T) cost.Report {
	t.Helper()
	r := send(t, "GET", c.admin+"/v1/cost", map[string]string{"Authorization": "Bearer " + adminToken}, "")
	if r.status != 200 {
		t.Fatalf("GET /v1/cost = %d %s", r.status, r.body)
	}
	var rep cost.Report
	if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
		t.Fatalf("GET /v1/cost body %q: %v", r.body, err)
	}
	return rep
}

// TestCostPricingFollowsWorld checks that the prices in the current World
// win over Config.Pricing, and change when a World with new prices is
// swapped in (a reload) while route figures carry on.
func TestCostPricingFollowsWorld(t *testing.T) {
	static := cost.Pricing{PerMillionRequests: 1}
	c := startCostEnv(t, &static)
	if r := send(t, "GET", "http://"+c.e.addr+"/fast", nil, ""); r.status != 200 {
		t.Fatalf("GET /fast = %d %q", r.status, r.body)
	}
	if got := c.report(t).Pricing; got != static {
		t.Errorf("Pricing with no World prices = %+v, want Config's %+v", got, static)
	}
	reloaded := cost.Pricing{PerMillionRequests: 7, PerGBSecond: 1, ContainerPerHour: 2, ContainerRequestsPerSecond: 3}
	next := *c.e.world
	next.Pricing = &reloaded
	if _, err := c.e.srv.Swap(&next); err != nil {
		t.Fatalf("Swap refused the World: %v", err)
	}
	rep := c.report(t)
	if rep.Pricing != reloaded {
		t.Errorf("Pricing after the swap = %+v, want %+v", rep.Pricing, reloaded)
	}
	if len(rep.Routes) == 0 || rep.Routes[0].Route != "iso" || rep.Routes[0].Invocations != 1 {
		t.Errorf("Routes after the swap = %+v, want iso's invocation kept", rep.Routes)
	}
}
