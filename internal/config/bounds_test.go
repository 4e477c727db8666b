package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/edged/edged/router"
)

// TestBounds goes through every size, count and duration of the file that has
// an upper bound: the bound itself is accepted and the next value up is
// refused with the key's path, so `edged validate` catches a value that would
// make the daemon allocate without limit (max_header_size = "1TiB" is a read
// buffer of that size per connection; min_instances = 10000000 warm
// instances).
func TestBounds(t *testing.T) {
	const (
		fn     = "[functions.f]\nmodule = \"mod.wasm\"\n"
		route  = "[[routes]]\nname = \"r\"\npath = \"/r\"\nstage = \"shadow\"\nupstream = \"app\"\nfunction = \"f\"\n" + fn
		legacy = "[[routes]]\nname = \"r\"\npath = \"/r\"\nstage = \"legacy\"\nupstream = \"app\"\n"
	)
	tests := []struct {
		name, doc string // doc holds %s where the value goes
		max, over string
		path      string
	}{
		{"read_timeout", "[server]\nread_timeout = %s\n", `"1h"`, `"61m"`, "server.read_timeout"},
		{"write_timeout", "[server]\nwrite_timeout = %s\n", `"1h"`, `"61m"`, "server.write_timeout"},
		{"idle_timeout", "[server]\nidle_timeout = %s\n", `"1h"`, `"61m"`, "server.idle_timeout"},
		{"shutdown_timeout", "[server]\nshutdown_timeout = %s\n", `"1h"`, `"61m"`, "server.shutdown_timeout"},
		{"drain_delay", "[server]\ndrain_delay = %s\n", `"5m"`, `"301s"`, "server.drain_delay"},
		{"drain_delay negative", "[server]\ndrain_delay = %s\n", `"0s"`, `"-1s"`, "server.drain_delay"},
		{"max_request_body", "[server]\nmax_request_body = %s\n", `"1GiB"`, `"1073741825"`, "server.max_request_body"},
		{"max_header_size", "[server]\nmax_header_size = %s\n", `"1MiB"`, `"1TiB"`, "server.max_header_size"},
		{"max_header_size small", "[server]\nmax_header_size = %s\n", `"1KiB"`, `"1023"`, "server.max_header_size"},
		{"max_concurrent_executions", "[runtime]\nmax_concurrent_executions = %s\n", "4096", "4097", "runtime.max_concurrent_executions"},
		{"max_conns", "[upstreams.b]\nurl = \"http://127.0.0.1:1\"\nmax_conns = %s\n", "65536", "65537", "upstreams.b.max_conns"},
		{"upstream max_response_body", "[upstreams.b]\nurl = \"http://127.0.0.1:1\"\nmax_response_body = %s\n", `"1GiB"`, `"2GiB"`, "upstreams.b.max_response_body"},
		{"function max_request_body", fn + "max_request_body = %s\n", `"256MiB"`, `"257MiB"`, "functions.f.max_request_body"},
		{"function max_response_body", fn + "max_response_body = %s\n", `"256MiB"`, `"257MiB"`, "functions.f.max_response_body"},
		{"max_log_bytes", fn + "max_log_bytes = %s\n", `"16MiB"`, `"17MiB"`, "functions.f.max_log_bytes"},
		{"min_instances", fn + "max_instances = 4096\nmin_instances = %s\n", "4096", "10000000", "functions.f.min_instances"},
		{"max_instances", fn + "max_instances = %s\n", "4096", "4097", "functions.f.max_instances"},
		{"max_subrequests", fn + "allowed_hosts = [\"https://api.example.com\"]\nmax_subrequests = %s\n", "1000", "1001", "functions.f.max_subrequests"},
		{"max_subrequest_body", fn + "max_subrequest_body = %s\n", `"256MiB"`, `"1GiB"`, "functions.f.max_subrequest_body"},
		{"memory", fn + "memory = %s\n", `"4GiB"`, `"5GiB"`, "functions.f.memory"},
		{"shadow max_concurrent", route + "[routes.shadow]\nmax_concurrent = %s\n", "4096", "4097", "routes[0].shadow.max_concurrent"},
		{"shadow max_body", route + "[routes.shadow]\nmax_body = %s\n", `"64MiB"`, `"65MiB"`, "routes[0].shadow.max_body"},
		{"shadow sample_size", route + "[routes.shadow]\nsample_size = %s\n", "10000", "10001", "routes[0].shadow.sample_size"},
		{"migration min_requests", route + "[routes.migration]\nsteps = [100]\nmin_requests = %s\n", "10000000", "10000001", "routes[0].migration.min_requests"},
		{"weight", strings.Replace(route, "stage = \"shadow\"\n", "stage = \"canary\"\nweight = %s\n", 1), "100", "101", "routes[0].weight"},
		{"rate_limit burst", legacy + "[routes.rate_limit]\nrate = \"1/s\"\nburst = %s\n", "10000000", "10000001", "routes[0].rate_limit.burst"},
		{"rate_limit sync_interval", legacy + "[routes.rate_limit]\nrate = \"1/s\"\nsync_interval = %s\n", `"10s"`, `"11s"`, "routes[0].rate_limit.sync_interval"},
		{"rate_limit max_clients", legacy + "[routes.rate_limit]\nrate = \"1/s\"\nmax_clients = %s\n", "10000000", "10000001", "routes[0].rate_limit.max_clients"},
		{"idempotency max_response_bytes", legacy + "[routes.idempotency]\nenabled = true\nmax_response_bytes = %s\n", `"64MiB"`, `"65MiB"`, "routes[0].idempotency.max_response_bytes"},
		{"idempotency max_stored_bytes", legacy + "[routes.idempotency]\nenabled = true\nmax_stored_bytes = %s\n", `"4GiB"`, `"5GiB"`, "routes[0].idempotency.max_stored_bytes"},
		{"idempotency max_keys", legacy + "[routes.idempotency]\nenabled = true\nmax_keys = %s\n", "10000000", "10000001", "routes[0].idempotency.max_keys"},
		{"auth max_token_bytes", "[auth]\napi_key_file = \"k\"\nmax_token_bytes = %s\n", `"64KiB"`, `"65KiB"`, "auth.max_token_bytes"},
		{"auth jwt_cache_entries", "[auth]\napi_key_file = \"k\"\njwt_cache_entries = %s\n", "1048576", "1048577", "auth.jwt_cache_entries"},
		{"auth clock_skew", "[auth]\napi_key_file = \"k\"\nclock_skew = %s\n", `"10m"`, `"11m"`, "auth.clock_skew"},
		{"auth jwt_cache_ttl", "[auth]\napi_key_file = \"k\"\njwt_cache_ttl = %s\n", `"1h"`, `"2h"`, "auth.jwt_cache_ttl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := minimal + fmt.Sprintf(tc.doc, tc.max)
			if _, err := Decode([]byte(doc), "testdata"); err != nil {
				t.Errorf("Decode(%s = %s) = %v, want the bound accepted", tc.path, tc.max, err)
			}
			doc = minimal + fmt.Sprintf(tc.doc, tc.over)
			_, err := Decode([]byte(doc), "testdata")
			if !hasPath(err, tc.path) {
				t.Errorf("Decode(%s = %s) = %v, want a problem at %s", tc.path, tc.over, err, tc.path)
			}
		})
	}
}

// hasPath reports whether err joins a *FieldError at path.
func hasPath(err error, path string) bool {
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		var fe *FieldError
		return errors.As(err, &fe) && fe.Path == path
	}
	for _, e := range joined.Unwrap() {
		var fe *FieldError
		if errors.As(e, &fe) && fe.Path == path {
			return true
		}
	}
	return false
}

// TestServerDefaultsAreTheRouters checks that [server] and [routes.shadow]
// default to the router's own defaults: one set, so edged and a program
// embedding the router cannot disagree (max_header_size was 8KiB here and
// 16KiB there; write_timeout bounded the whole response here and nothing
// there).
func TestServerDefaultsAreTheRouters(t *testing.T) {
	c, err := Decode([]byte(minimal+"[[routes]]\nname = \"r\"\npath = \"/\"\nstage = \"shadow\"\nupstream = \"app\"\nfunction = \"f\"\n[functions.f]\nmodule = \"mod.wasm\"\n"), "testdata")
	if err != nil {
		t.Fatal(err)
	}
	sh := c.Routes[0].Shadow
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"server.read_timeout", c.Server.ReadTimeout.Std(), router.DefaultServerReadTimeout},
		{"server.write_timeout", c.Server.WriteTimeout.Std(), router.DefaultServerWriteTimeout},
		{"server.idle_timeout", c.Server.IdleTimeout.Std(), router.DefaultServerIdleTimeout},
		{"server.max_request_body", int64(c.Server.MaxRequestBody), int64(router.DefaultMaxRequestBody)},
		{"server.max_header_size", int64(c.Server.MaxHeaderSize), int64(router.DefaultMaxHeaderSize)},
		{"routes[0].shadow.max_concurrent", sh.MaxConcurrent, router.DefaultShadowMaxConcurrent},
		{"routes[0].shadow.max_body", int64(sh.MaxBody), int64(router.DefaultShadowMaxBody)},
		{"routes[0].shadow.noise_sample", sh.NoiseSample, router.DefaultNoiseSample},
	} {
		if tc.got != tc.want {
			t.Errorf("default %s = %v, want the router's %v", tc.key, tc.got, tc.want)
		}
	}
}
