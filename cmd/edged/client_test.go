package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/strangler"
)

// TestClientReadsOnlyAdmin runs `edged reload -config FILE` against a loopback
// stand-in for the admin API. The client commands read only [admin], leniently:
// a typo or a type error elsewhere in the file does not stop them, and when they
// cannot find the admin API they say which flags would.
func TestClientReadsOnlyAdmin(t *testing.T) {
	calls := make(chan string, 16)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls <- r.Method + " " + r.URL.Path + " " + r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
	}))
	defer api.Close()
	listen := strings.TrimPrefix(api.URL, "http://")

	dir := t.TempDir()
	writeFile(t, dir, "admin.token", "tok\n", 0o600)
	const broken = `
[server]
listen = 8080            # type error
max_header_size = "1TiB" # out of bounds

[[routes]]
name = "users"
pth = "/api/users"       # typo
`
	tests := []struct {
		name     string
		file     string
		args     []string
		wantCode int
		wantErr  []string // substrings of stderr
	}{
		{"typo and type errors elsewhere", broken + "\n[admin]\nlisten = \"" + listen + "\"\ntoken_file = \"admin.token\"\n", nil, 0, nil},
		{"unknown key in admin", "[admin]\nlisten = \"" + listen + "\"\ntoken_file = \"admin.token\"\nallow_remot = true\n", nil, 0, nil},
		{"no admin table", broken, nil, 1, []string{"admin.token_file is not set", "-admin URL", "-token-file FILE"}},
		{"admin of the wrong type", "admin = 5\n", nil, 1, []string{"admin: must be a table", "-admin URL", "-token-file FILE"}},
		{"token_file of the wrong type", "[admin]\ntoken_file = 1\n", nil, 1, []string{"admin.token_file: line 2", "-token-file FILE"}},
		{"not TOML", "[admin\n", nil, 1, []string{"-admin URL", "-token-file FILE"}},
		{"flags win over a broken file", "[admin\n", []string{"-admin", api.URL, "-token-file", filepath.Join(dir, "admin.token")}, 0, nil},
		{"missing token file", "[admin]\nlisten = \"" + listen + "\"\ntoken_file = \"absent.token\"\n", nil, 1, []string{"absent.token", "-token-file FILE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, "router.toml", tc.file, 0o644)
			var stdout, stderr strings.Builder
			code := run(append([]string{"reload", "-config", path}, tc.args...), &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("edged reload -config (%s) = %d, want %d; stderr:\n%s", tc.name, code, tc.wantCode, stderr.String())
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("edged reload -config (%s) stderr = %q, want it to name %q", tc.name, stderr.String(), w)
				}
			}
			var got []string
			for len(calls) > 0 {
				got = append(got, <-calls)
			}
			if tc.wantCode == 0 && (len(got) != 1 || got[0] != "POST /v1/reload Bearer tok") {
				t.Errorf("edged reload -config (%s) sent %q, want one POST /v1/reload with the token", tc.name, got)
			}
		})
	}
}

// TestClientCommandsOnAPI runs the client commands against the real admin API
// (package admin, on a loopback httptest server): what they print, and the
// hint a refused token gets.
func TestClientCommandsOnAPI(t *testing.T) {
	table, err := strangler.NewTable([]strangler.Route{
		{Name: "users", Path: "/api/users", Upstream: "mono", Function: "api", Step: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := admin.New(admin.Config{Table: table, Token: []byte("tok")})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(api)
	defer hs.Close()
	dir := t.TempDir()
	good := writeFile(t, dir, "good.token", "tok\n", 0o600)
	bad := writeFile(t, dir, "bad.token", "nope\n", 0o600)
	tests := []struct {
		name       string
		args       []string
		token      string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{"promote", []string{"promote", "users", "-reason", "cli"}, good, 0, []string{"users: legacy -> shadow"}, nil},
		{"status", []string{"status"}, good, 0, []string{"ROUTE", "users", "/api/users", "shadow"}, nil},
		{"weight outside canary", []string{"weight", "users", "10"}, good, 1, nil, []string{"admin API: 409"}},
		{"unknown route", []string{"pause", "nope"}, good, 1, nil, []string{"admin API: 404", `route "nope" not found`}},
		{"cost", []string{"cost"}, good, 0, []string{"FUNCTION", "prices: $0.2 per million requests"}, nil},
		{"reload not wired", []string{"reload"}, good, 1, nil, []string{"admin API: 501"}},
		{"refused token", []string{"status"}, bad, 1, nil, []string{"admin API: 401", "(check the token file)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(append(tc.args, "-admin", hs.URL, "-token-file", tc.token), &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("edged %s = %d, want %d; stderr %q", strings.Join(tc.args, " "), code, tc.wantCode, stderr.String())
			}
			for _, w := range tc.wantStdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tc.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q: %q", w, stderr.String())
				}
			}
		})
	}
	if r, _ := table.Route("users"); r.Stage != strangler.StageShadow {
		t.Errorf("users at %s after the commands, want shadow", r.Stage)
	}
}
