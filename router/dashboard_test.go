package router

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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

// TestDashboardInChromium renders the dashboard in headless Chromium: it
// shows the routes with their stages, and clicking "promote" changes the
// route's stage in the table (an authenticated POST made by the page).
func TestDashboardInChromium(t *testing.T) {
	exe := chromiumPath(t)
	env := startAdmin(t, nil)
	if _, err := env.table.Promote("users", nil, strangler.Action{Actor: "test"}); err != nil { // legacy -> shadow
		t.Fatal(err)
	}
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
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

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
	if ev.Actor != ActorAdmin || !strings.Contains(ev.Reason, "dashboard") {
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
