#!/usr/bin/env bash
# loadtest.sh: compare edged's legacy proxy path (proxy.Upstream.Serve, GOMAXPROCS=1) with
# the upstream alone and with nginx (1 worker, upstream keepalive sized to the load), all
# on loopback. Prints requests/s, p99 latency and the CPU the server under test spent per
# request (from /proc/PID/stat), the steadiest figure on a shared machine.
#
# Usage: scripts/loadtest.sh            (DURATION=10s CONNS="64 256" ROUNDS=1 by default)
#        DURATION=5s CONNS=64 ROUNDS=3 scripts/loadtest.sh
# Needs: go, wrk, nginx (Debian: apt-get install wrk nginx-light). Pins wrk to core 0 and
# the servers to core 1 with taskset when there are >= 2 cores (see docs/proxy.md).
set -euo pipefail

DURATION=${DURATION:-10s}
CONNS=${CONNS:-"64 256"}
ROUNDS=${ROUNDS:-1}
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
UP_PORT=${UP_PORT:-18081}
EDGED_PORT=${EDGED_PORT:-18082}
NGINX_PORT=${NGINX_PORT:-18083}

NAME=loadtest
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"
need_tools go wrk nginx

(cd "$REPO" && go build -o "$TMP/loadproxy" ./scripts/loadproxy)

GOMAXPROCS=1 "${SRV_CPU[@]}" "$TMP/loadproxy" -mode upstream -listen "127.0.0.1:$UP_PORT" &
PIDS+=($!)
UP_PID=$!
GOMAXPROCS=1 "${SRV_CPU[@]}" "$TMP/loadproxy" -mode proxy -listen "127.0.0.1:$EDGED_PORT" \
	-upstream "http://127.0.0.1:$UP_PORT" -max-conns 512 &
PIDS+=($!)
EDGED_PID=$!

start_nginx "$NGINX_PORT" "$UP_PORT" "${SRV_CPU[@]}"

wait_port "$UP_PORT"; wait_port "$EDGED_PORT"; wait_port "$NGINX_PORT"

# The nginx worker(s) do the proxying; the master only waits.
nginx_workers() { pgrep -P "$NGINX_PID" | tr '\n' ' '; }

printf '%-8s %6s %10s %10s %14s\n' target conns "req/s" p99 "cpu_us/req"
for round in $(seq "$ROUNDS"); do
	for c in $CONNS; do
		for target in direct nginx edged; do
			case $target in
			direct) port=$UP_PORT; pids=$UP_PID ;;
			nginx) port=$NGINX_PORT; pids=$(nginx_workers) ;;
			edged) port=$EDGED_PORT; pids=$EDGED_PID ;;
			esac
			measure "$c" "http://127.0.0.1:$port/" "$pids"
			printf '%-8s %6s %10s %10s %14s %s\n' "$target" "$c" "$RPS" "$P99" "$CPU" "$ERRS"
		done
	done
done
