package admin

import (
	_ "embed"
	"net/http"
)

// dashboardHTML is the migrations dashboard: one self-contained page (no
// external scripts or styles) that reads the admin API with the bearer token
// the operator types in.
//
//go:embed dashboard.html
var dashboardHTML []byte

// serveDashboard serves the page. It carries no data, so it needs no token;
// every number on it comes from authenticated API calls, and every button is
// an authenticated POST.
func serveDashboard(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(dashboardHTML)
}
