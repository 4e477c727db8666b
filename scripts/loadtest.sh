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

# nginx: one worker, keepalive covering the largest connection count (trap 11), its own
# pid file, logs and temp paths, run as the current user.
mkdir -p "$TMP/nginx/logs"
USER_LINE=""
if [ "$(id -u)" -eq 0 ]; then USER_LINE="user root;"; fi
cat >"$TMP/nginx/nginx.conf" <<CONF
$USER_LINE
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $TMP/nginx/body;
	proxy_temp_path $TMP/nginx/proxy;
	fastcgi_temp_path $TMP/nginx/fastcgi;
	uwsgi_temp_path $TMP/nginx/uwsgi;
	scgi_temp_path $TMP/nginx/scgi;
	upstream legacy { server 127.0.0.1:$UP_PORT; keepalive 512; }
	server {
		listen 127.0.0.1:$NGINX_PORT;
		location / {
			proxy_pass http://legacy;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
CONF
"${SRV_CPU[@]}" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
NGINX_PID=$!

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
