package admin

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edged/edged/cost"
	"github.com/edged/edged/strangler"
)

// chromiumPath finds Debian's chromium. CI installs it (.ci/run); a
// developer machine without it skips the browser test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; .ci/run must install Debian's chromium package")
	}
	t.Skip("chromium not installed")
	return ""
}

// newBrowser starts headless Chromium at exe for one test; it stops with the
// test.
func newBrowser(t *testing.T, exe string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancel(); cancelBrowser(); cancelAlloc() })
	return ctx
}

// TestDashboardInChromium renders the dashboard in headless Chromium: it
// shows the routes with their stages, and clicking "promote" changes the
// route's stage in the table (an authenticated POST made by the page).
func TestDashboardInChromium(t *testing.T) {
	exe := chromiumPath(t)
	env := startAdmin(t, nil)
	if _, err := env.table.Promote("users", nil, strangler.Action{Actor: "test"}); err != nil { // legacy -> shadow
		t.Fatal(err)
	}
	ctx := newBrowser(t, exe)

	stage := `tr[data-route="users"] [data-stage]`
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(env.url+"/dashboard#token="+adminToken)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(stage)); err != nil {
		t.Fatalf("wait for the routes table: %v", err)
	}
	before, legacyOnly := text(stage), text(`tr[data-route="legacy-only"] [data-stage]`)
	if err := chromedp.Do(ctx, chromedp.Click(`tr[data-route="users"] button[data-action="promote"]`)); err != nil {
		t.Fatalf("click promote: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`document.querySelector('tr[data-route="users"] [data-stage]').textContent === "canary"`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("wait for the new stage: %v", err)
	}
	after := text(stage)
	if before != "shadow" || legacyOnly != "legacy" || after != "canary" {
		t.Errorf("stages shown: users %q then %q, legacy-only %q; want shadow then canary, legacy", before, after, legacyOnly)
	}
	r, _ := env.table.Route("users")
	if r.Stage != strangler.StageCanary {
		t.Errorf("table stage after the click = %s, want canary", r.Stage)
	}
	ev := env.table.LatestEvents(1)[0]
	if ev.Actor != Actor || !strings.Contains(ev.Reason, "dashboard") {
		t.Errorf("last event = %+v, want the admin's promote from the dashboard", ev)
	}
}

// TestDashboardNeedsTheToken checks that the page holds no data: without the
// token the API calls it makes are refused.
func TestDashboardNeedsTheToken(t *testing.T) {
	env := startAdmin(t, nil)
	r := send(t, "GET", env.url+"/dashboard", nil, "")
	if r.status != 200 || !strings.Contains(r.body, "edged") || strings.Contains(r.body, "/api/users") {
		t.Errorf("GET /dashboard = %d, want the page without route data", r.status)
	}
	if got := r.header.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'none'") {
		t.Errorf("CSP = %q", got)
	}
	if r := send(t, "GET", env.url+"/v1/routes", nil, ""); r.status != 401 {
		t.Errorf("GET /v1/routes without token = %d, want 401", r.status)
	}
}

var containersShown = regexp.MustCompile(`^\$[0-9]+\.[0-9]{2} \([1-9][0-9]*\)$`)

// TestDashboardCostInChromium renders the cost report: a route that served
// traffic shows its own invocations, and a handful of requests is flagged as
// too little data rather than given a verdict.
func TestDashboardCostInChromium(t *testing.T) {
	exe := chromiumPath(t)
	// A dollar a request: any sustained traffic is past the break-even.
	c := startCostEnv(t, &cost.Pricing{PerMillionRequests: 1e6, ContainerPerHour: 0.01, ContainerRequestsPerSecond: 1000})
	for range 3 {
		if r := send(t, "GET", "http://"+c.e.addr+"/fast", nil, ""); r.status != 200 {
			t.Fatalf("GET /fast = %d", r.status)
		}
	}
	ctx := newBrowser(t, exe)
	if err := chromedp.Do(ctx, chromedp.Navigate(c.admin+"/dashboard#token="+adminToken)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`#cost tr[data-cost-route="iso"] [data-flag]`)); err != nil {
		t.Fatalf("wait for the cost table: %v", err)
	}
	cell := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	iso := `#cost tr[data-cost-route="iso"] `
	if got := cell(iso + `[data-col="invocations"]`); got != "3" {
		t.Errorf("iso invocations shown = %q, want 3", got)
	}
	// Three requests are too few to extrapolate a month from, whatever the
	// prices say.
	if got := cell(iso + `[data-flag]`); got != "too little data" {
		t.Errorf("iso verdict shown = %q, want too little data", got)
	}
	if got := cell(iso + `[data-col="billed"]`); got == "0.000" {
		t.Errorf("iso billed seconds shown = %q, want > 0", got)
	}
	if got := cell(iso + `[data-col="ct-monthly"]`); !containersShown.MatchString(got) {
		t.Errorf("iso containers shown = %q, want $N.NN (count)", got)
	}
	other := `#cost tr[data-cost-route="other"] `
	if inv, flag := cell(other+`[data-col="invocations"]`), cell(other+`[data-flag]`); inv != "0" || flag != "too little data" {
		t.Errorf("other shown = %q invocations, verdict %q; want 0, too little data", inv, flag)
	}
	if got := cell(`#cost-functions tr[data-cost-function="hello"] [data-col="invocations"]`); got != "3" {
		t.Errorf("hello invocations shown = %q, want 3", got)
	}
}
