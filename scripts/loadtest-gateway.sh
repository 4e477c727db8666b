#!/usr/bin/env bash
# loadtest-gateway.sh: what the gateway costs on the legacy path of the real daemon. One
# `edged serve` (GOMAXPROCS=1) proxies three routes to the same upstream, in the same run:
#   open   no auth, no rate limit (the baseline)
#   jwt    auth = "required" with an ES256 bearer token, plus a per-subject rate limit
#   apikey auth = "required" with an API key, plus a per-key rate limit
# The limits are set high enough never to refuse, so every request pays for the check.
# The JWT client reuses one token, as real clients do, so after the first request the
# verified-token cache answers (docs/gateway.md). Prints req/s, p99 and the daemon's CPU
# µs per request, and each gated route's req/s as a ratio of open's in the same round;
# quote the median ratio over the rounds.
#
# Usage: scripts/loadtest-gateway.sh    (DURATION=10s CONNS="64 256" ROUNDS=3 by default)
# Needs: go, wrk. Pins wrk to core 0 and the servers to core 1 with taskset when there are
# >= 2 cores. The target (issue 5): each gated route >= 0.9x open's req/s.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNS=${CONNS:-"64 256"}
ROUNDS=${ROUNDS:-3}
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
UP_PORT=${UP_PORT:-18101}
EDGED_PORT=${EDGED_PORT:-18102}
ADMIN_PORT=${ADMIN_PORT:-18103}

NAME=loadtest-gateway
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"
need_tools go wrk

(cd "$REPO" && go build -o "$TMP/loadproxy" ./scripts/loadproxy && go build -o "$TMP/edged" ./cmd/edged &&
	go build -o "$TMP/gwfixture" ./scripts/gwfixture)

mapfile -t CREDS < <("$TMP/gwfixture" -dir "$TMP" -issuer https://issuer.load.test -audience edged-load)
TOKEN=${CREDS[0]} APIKEY=${CREDS[1]}
echo "admin-token-for-load-tests" >"$TMP/admin.token"
chmod 600 "$TMP/admin.token"
cat >"$TMP/router.toml" <<CONF
[server]
listen = "127.0.0.1:$EDGED_PORT"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"
token_file = "admin.token"

[runtime]
cache_dir = "$TMP/cache"
state_dir = "$TMP/state"

[auth]
api_key_file = "api.keys"
jwt_key_file = "jwt.pem"
issuer = "https://issuer.load.test"
audience = "edged-load"

[upstreams.legacy]
url = "http://127.0.0.1:$UP_PORT"
max_conns = 512

[[routes]]
name = "open"
path = "/open"
stage = "legacy"
upstream = "legacy"

[[routes]]
name = "jwt"
path = "/jwt"
stage = "legacy"
upstream = "legacy"
auth = "required"
scopes = ["load:read"]

  [routes.rate_limit]
  rate = "1000000/s"
  key = "subject"

[[routes]]
name = "apikey"
path = "/apikey"
stage = "legacy"
upstream = "legacy"
auth = "required"
scopes = ["load:read"]

  [routes.rate_limit]
  rate = "1000000/s"
  key = "api_key"
CONF

GOMAXPROCS=1 "${SRV_CPU[@]}" "$TMP/loadproxy" -mode upstream -listen "127.0.0.1:$UP_PORT" &
PIDS+=($!)
GOMAXPROCS=1 "${SRV_CPU[@]}" "$TMP/edged" serve -config "$TMP/router.toml" >"$TMP/edged.out" 2>"$TMP/edged.err" &
PIDS+=($!)
EDGED_PID=$!
wait_port "$UP_PORT"; wait_port "$EDGED_PORT"

# Each gated route must answer 200 before it is measured: a 401 is cheaper than a pass.
for check in "jwt Authorization: Bearer $TOKEN" "apikey X-API-Key: $APIKEY" "open X-None: 1"; do
	path=${check%% *} hdr=${check#* }
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "$hdr" "http://127.0.0.1:$EDGED_PORT/$path")
	if [ "$code" != 200 ]; then
		echo "$NAME: GET /$path = $code, want 200" >&2
		cat "$TMP/edged.err" >&2
		exit 1
	fi
done

# The order of the routes rotates every round, so that a neighbour's burst of CPU on a
# shared machine does not always land on the same route.
ORDERS=("open jwt apikey" "jwt apikey open" "apikey open jwt")
printf '%-5s %-8s %6s %10s %10s %12s\n' round route conns "req/s" p99 "cpu_us/req"
for round in $(seq "$ROUNDS"); do
	for c in $CONNS; do
		declare -A rps
		for route in ${ORDERS[$(((round - 1) % 3))]}; do
			case $route in
			open) hdr="X-None: 1" ;;
			jwt) hdr="Authorization: Bearer $TOKEN" ;;
			apikey) hdr="X-API-Key: $APIKEY" ;;
			esac
			measure "$c" "http://127.0.0.1:$EDGED_PORT/$route" "$EDGED_PID" -H "$hdr"
			rps[$route]=$RPS
			printf '%-5s %-8s %6s %10s %10s %12s %s\n' "$round" "$route" "$c" "$RPS" "$P99" "$CPU" "$ERRS"
		done
		awk -v r="$round" -v c="$c" -v o="${rps[open]}" -v j="${rps[jwt]}" -v k="${rps[apikey]}" \
			'BEGIN { printf "ratio round %s c%s: jwt/open %.3f  apikey/open %.3f\n", r, c, j / o, k / o }'
	done
done
