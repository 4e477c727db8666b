package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeShippedConfigNamesTheFix runs `edged serve -config router.toml` on a
// copy of the shipped router.toml (module paths made absolute) the way a
// newcomer does after the quick start: first without the admin token file, then
// without the secret the auth function is granted. Each failure names the file,
// the key and how to fix it.
func TestServeShippedConfigNamesTheFix(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	data, err := os.ReadFile(repoPath(t, "router.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.ReplaceAll(string(data), `"examples/guests/`, `"`+repoPath(t, "examples/guests")+`/`)
	cfgPath := writeFile(t, dir, "router.toml", cfg, 0o644)
	tokenPath := filepath.Join(dir, ".edged", "admin.token")
	t.Setenv("EDGED_API_TOKEN", "")
	os.Unsetenv("EDGED_API_TOKEN") // restored by t.Setenv's cleanup

	tests := []struct {
		name  string
		setup func(t *testing.T)
		want  []string
	}{
		{"no admin token file", func(*testing.T) {}, []string{
			cfgPath, "admin.token_file", tokenPath, "does not exist", "openssl rand -hex 32 > " + tokenPath, "edged dev",
		}},
		{"secret not set", func(t *testing.T) {
			if err := os.MkdirAll(filepath.Dir(tokenPath), 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Dir(tokenPath), "admin.token", "tok\n", 0o600)
		}, []string{
			cfgPath, "secrets.api_token", "EDGED_API_TOKEN is not set", "EDGED_API_TOKEN=... edged serve",
			`remove "api_token" from functions.auth.secrets`, "edged dev starts without it",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup(t)
			code, _, stderr := runEdged(t, b, "serve", "-config", cfgPath)
			if code != 1 {
				t.Fatalf("edged serve -config router.toml = exit %d, want 1; stderr:\n%s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("edged serve -config router.toml stderr = %q, want it to contain %q", stderr, w)
				}
			}
		})
	}
}

// TestDevShippedEventFlow runs `edged dev` on a copy of the shipped router.toml
// (ports free, module paths absolute) and walks the README's event flow: an
// order POSTed to /orders/async is processed by the trigger "orders"; an order
// with "fail": true is retried and dead-lettered, `edged dlq list orders` shows
// it, a redrive of the unfixed function dead-letters it again, and after the
// function is "fixed" (config "ignore-fail") and reloaded, `edged dlq redrive
// orders -all` gets it processed.
func TestDevShippedEventFlow(t *testing.T) {
	b := needBinaries(t)
	dir := t.TempDir()
	data, err := os.ReadFile(repoPath(t, "router.toml"))
	if err != nil {
		t.Fatal(err)
	}
	monoAddr := freeAddr(t)
	cfg := string(data)
	for _, r := range [][2]string{
		{`"examples/guests/`, `"` + repoPath(t, "examples/guests") + `/`},
		{`listen = ":8080"`, `listen = "127.0.0.1:0"`},
		{`listen = "127.0.0.1:9901"`, `listen = "127.0.0.1:0"`},
		{`url = "http://127.0.0.1:9000"`, `url = "http://` + monoAddr + `"`},
		{`cache_dir = ".edged/cache"`, `cache_dir = "` + b.cache + `"`},
	} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("router.toml lacks %s; update this test with the quick start", r[0])
		}
		cfg = strings.ReplaceAll(cfg, r[0], r[1])
	}
	cfgPath := writeFile(t, dir, "router.toml", cfg, 0o644)

	p := start(t, nil, b.edged, "dev", "-config", cfgPath)
	pub, _ := p.stdout.wait(t, 0, "  edged ")
	public := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(pub), "edged"))
	adm, _ := p.stdout.wait(t, 0, "  admin ")
	admin := strings.Fields(adm)[1]
	p.stdout.wait(t, 0, "Ctrl-C")
	token := filepath.Join(dir, ".edged", "admin.token")
	tok, err := os.ReadFile(token)
	if err != nil {
		t.Fatal(err)
	}
	cli := func(t *testing.T, args ...string) string {
		t.Helper()
		code, out, errOut := runEdged(t, b, append(args, "-admin", admin, "-token-file", token)...)
		if code != 0 {
			t.Fatalf("edged %s = exit %d; stderr:\n%s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	// enqueue POSTs an order and returns the status link of its event.
	enqueue := func(t *testing.T, order string) (id, status string) {
		t.Helper()
		code, _, body := post(t, public+"/orders/async", order)
		if code != http.StatusAccepted {
			t.Fatalf("POST /orders/async %s = %d %q, want 202", order, code, body)
		}
		var a struct{ ID, Status string }
		if err := json.Unmarshal([]byte(body), &a); err != nil || a.ID == "" || !strings.HasPrefix(a.Status, "/v1/events/"+a.ID+"?") {
			t.Fatalf("POST /orders/async answer %q: want {id, status link}; %v", body, err)
		}
		return a.ID, a.Status
	}
	// waitState polls the status link until the event reaches state, a
	// bounded number of times (delivery and retries are asynchronous).
	waitState := func(t *testing.T, status, state string) map[string]any {
		t.Helper()
		var last string
		for i := range 200 {
			code, _, body := get(t, admin+status, "Authorization", "Bearer "+strings.TrimSpace(string(tok)))
			last = fmt.Sprintf("%d %s", code, body)
			var st map[string]any
			if code == 200 && json.Unmarshal([]byte(body), &st) == nil && st["state"] == state {
				return st
			}
			time.Sleep(time.Duration(min(i+1, 10)) * 10 * time.Millisecond)
		}
		t.Fatalf("GET %s: not %q after 200 tries: %s", status, state, last)
		return nil
	}

	t.Run("order processed", func(t *testing.T) {
		id, status := enqueue(t, `{"item": "book", "qty": 2}`)
		waitState(t, status, "done")
		if line, _ := p.stderr.wait(t, 0, "guest.id="+id); !strings.Contains(line, `msg="order processed"`) {
			t.Errorf("edged log for event %s = %q, want the guest's \"order processed\"", id, line)
		}
	})
	_, failStatus := enqueue(t, `{"item": "lamp", "fail": true}`)
	failID := strings.TrimPrefix(strings.SplitN(failStatus, "?", 2)[0], "/v1/events/")
	t.Run("failing order dead-lettered", func(t *testing.T) {
		st := waitState(t, failStatus, "dead-lettered")
		if !strings.Contains(fmt.Sprint(st["triggers"]), "attempts:3") {
			t.Errorf("status %v: want 3 attempts (max_retries = 2)", st)
		}
		if out := cli(t, "dlq", "list", "orders"); !strings.Contains(out, failID) || !strings.Contains(out, "500") {
			t.Errorf("edged dlq list orders = %q, want %s with status 500", out, failID)
		}
		if out := cli(t, "events"); !strings.Contains(out, "orders.new") {
			t.Errorf("edged events = %q, want the trigger on orders.new", out)
		}
	})
	t.Run("redrive unfixed dead-letters again", func(t *testing.T) {
		if out := cli(t, "dlq", "redrive", "orders", "-all"); !strings.Contains(out, "orders: redrove 1") {
			t.Fatalf("edged dlq redrive orders -all = %q, want redrove 1", out)
		}
		// The redriven event fails again and comes back to the dead letters.
		for i := 0; ; i++ {
			if strings.Contains(cli(t, "dlq", "list", "orders"), failID) {
				break
			}
			if i == 200 {
				t.Fatalf("event %s not dead-lettered again after redrive", failID)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("fixed, reloaded, redriven: done", func(t *testing.T) {
		fixed := strings.Replace(cfg, `orders/orders.wasm"`, `orders/orders.wasm"`+"\nconfig = \"ignore-fail\"", 1)
		if fixed == cfg {
			t.Fatal("functions.orders module line not found")
		}
		writeFile(t, dir, "router.toml", fixed, 0o644)
		cli(t, "reload")
		if out := cli(t, "dlq", "redrive", "orders", "-all"); !strings.Contains(out, "orders: redrove 1") {
			t.Fatalf("edged dlq redrive orders -all = %q, want redrove 1", out)
		}
		waitState(t, failStatus, "done")
		if out := cli(t, "dlq", "list", "orders"); !strings.Contains(out, "orders: no dead letters") {
			t.Errorf("edged dlq list orders after the fixed redrive = %q, want none", out)
		}
	})

	p.signal(t, os.Interrupt)
	if code := p.wait(t); code != 0 {
		t.Errorf("edged dev exit code after Ctrl-C = %d, want 0; stderr:\n%s", code, p.stderr)
	}
}
