package admin

import (
	"net/http"

	"github.com/edged/edged/cost"
)

// cost serves GET /v1/cost (a cost.Report), priced with the Server's current
// World's Pricing, else Config.Pricing, else cost.DefaultPricing: prices
// follow a reload with the World that carries them.
func (a *API) cost(w http.ResponseWriter, _ *http.Request) {
	p := cost.DefaultPricing()
	if a.c.Pricing != nil {
		p = *a.c.Pricing
	}
	if a.c.Server == nil {
		writeJSON(w, http.StatusOK, cost.Compute(p, nil, nil, nil))
		return
	}
	if wp, ok := a.c.Server.Pricing(); ok {
		p = wp
	}
	writeJSON(w, http.StatusOK, a.c.Server.CostReport(p, a.c.Table))
}
