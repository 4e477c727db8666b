#!/usr/bin/env bash
# nginx-compare.sh: the legacy proxy's per-core throughput against nginx's, side by side.
#
# One static upstream (scripts/loadproxy -mode upstream: a fasthttp handler answering
# 1 KiB, so the figure is the proxy's and not an application's) and two proxies in front
# of it on loopback:
#   nginx  proxy_pass to an upstream block with a keepalive pool, 1 worker
#   edged  `edged serve` with one route at stage "legacy", GOMAXPROCS=1
# Both proxies are pinned to the same core (PROXY_CPU), wrk (1 thread) and the upstream
# to the other (LOAD_CPU), so each proxy has one core to itself while it is measured.
# Every round runs nginx then edged at each connection count, then the next round swaps
# the order (A/B, B/A, ...), so the machine's drift hits both alike. It prints req/s,
# p99 and CPU µs per request for each run and, per connection count, the range of the
# per-round ratios edged/nginx and the ratio of the medians.
#
# Usage: scripts/nginx-compare.sh                  (DURATION=8s CONNS="64 256" ROUNDS=4)
#        DURATION=5s ROUNDS=6 scripts/nginx-compare.sh
# Needs: go, wrk, taskset, curl, nginx. Debian: apt-get install -y nginx wrk (nginx-light is
# enough). Installs nothing itself. Loopback only; stops after
# ROUNDS x |CONNS| x 2 x DURATION plus start-up, and kills what it started on exit.
set -euo pipefail

DURATION=${DURATION:-8s}
CONNS=${CONNS:-"64 256"}
ROUNDS=${ROUNDS:-4}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
UP_PORT=${UP_PORT:-18181}
EDGED_PORT=${EDGED_PORT:-18182}
NGINX_PORT=${NGINX_PORT:-18183}
ADMIN_PORT=${ADMIN_PORT:-18184}

NAME=nginx-compare
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"
need_tools go wrk nginx taskset curl
if [ "$(nproc)" -lt 2 ]; then
	echo "$NAME: needs 2 cores (one for the proxy, one for wrk and the upstream)" >&2
	exit 1
fi
# lib.sh's measure pins wrk with WRK_CPU.
WRK_CPU=(taskset -c "$LOAD_CPU")

(cd "$REPO" && go build -o "$TMP/loadproxy" ./scripts/loadproxy && go build -o "$TMP/edged" ./cmd/edged)

GOMAXPROCS=1 taskset -c "$LOAD_CPU" "$TMP/loadproxy" -mode upstream -listen "127.0.0.1:$UP_PORT" &
PIDS+=($!)

# edged: one legacy route to the upstream, nothing else; the admin API on loopback.
mkdir -p "$TMP/conf"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/conf/admin.token"
chmod 600 "$TMP/conf/admin.token"
cat >"$TMP/conf/router.toml" <<CONF
[server]
listen = "127.0.0.1:$EDGED_PORT"
drain_delay = "0s"
shutdown_timeout = "2s"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"
token_file = "admin.token"

[runtime]
cache_dir = "cache"
state_dir = "state"

[upstreams.legacy]
url = "http://127.0.0.1:$UP_PORT"
max_conns = 512

[[routes]]
name = "all"
path = "/"
stage = "legacy"
upstream = "legacy"
CONF
GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$TMP/edged" serve -config "$TMP/conf/router.toml" \
	-log-level warn >"$TMP/conf/log" 2>&1 &
PIDS+=($!)
EDGED_PID=$!

# nginx: one worker, an upstream keepalive pool covering the largest connection count,
# its own pid file, logs and temp paths, run as the current user.
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
taskset -c "$PROXY_CPU" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
NGINX_PID=$!

wait_port "$UP_PORT"; wait_port "$NGINX_PORT"; wait_port "$EDGED_PORT"
if ! curl -fsS -o /dev/null "http://127.0.0.1:$EDGED_PORT/"; then
	echo "$NAME: edged does not answer; its log:" >&2
	cat "$TMP/conf/log" >&2
	exit 1
fi
# The worker does the proxying; the master only waits.
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')

# Warm both (connection pools, Go's heap) before anything counts.
for port in "$NGINX_PORT" "$EDGED_PORT"; do
	"${WRK_CPU[@]}" wrk -t1 -c256 -d2s "http://127.0.0.1:$port/" >/dev/null
done

# ms converts wrk's latency ("812.00us", "1.53ms", "2.01s") to milliseconds.
ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) printf "%.2f", v / 1000; else if (v ~ /ms$/) printf "%.2f", v + 0;
		else if (v ~ /s$/) printf "%.2f", v * 1000; else print "-" }'
}

RESULTS=$TMP/results
: >"$RESULTS"
printf '%-5s %-6s %5s %10s %9s %11s\n' round target conns "req/s" "p99_ms" "cpu_us/req"
for round in $(seq "$ROUNDS"); do
	order="nginx edged"
	if [ $((round % 2)) -eq 0 ]; then order="edged nginx"; fi
	for c in $CONNS; do
		for target in $order; do
			case $target in
			nginx) port=$NGINX_PORT; pids=$NGINX_WORKER ;;
			edged) port=$EDGED_PORT; pids=$EDGED_PID ;;
			esac
			measure "$c" "http://127.0.0.1:$port/" "$pids"
			p99=$(ms "$P99")
			printf '%-5s %-6s %5s %10s %9s %11s %s\n' "$round" "$target" "$c" "$RPS" "$p99" "$CPU" "$ERRS"
			echo "$round $target $c $RPS $p99 $CPU" >>"$RESULTS"
		done
	done
done

# Per connection count: the per-round ratios (edged/nginx, same round) and the medians.
echo
printf '%-5s %-22s %-22s %-16s %s\n' conns "nginx req/s (median)" "edged req/s (median)" "ratio (median)" "ratio per round (min-max)"
for c in $CONNS; do
	awk -v c="$c" '
		function median(a, n,   i, j, t) {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		$3 == c { rps[$2, $1] = $4; p99[$2, $1] = $5; rounds[$1] = 1 }
		END {
			nn = ne = nr = 0; lo = 1e9; hi = 0
			for (r in rounds) {
				n[++nn] = rps["nginx", r]; e[++ne] = rps["edged", r]
				pn[nn] = p99["nginx", r]; pe[ne] = p99["edged", r]
				ratio = rps["edged", r] / rps["nginx", r]
				if (ratio < lo) lo = ratio; if (ratio > hi) hi = ratio
			}
			mn = median(n, nn); me = median(e, ne)
			printf "%-5s %-22.0f %-22.0f %-16.2f %.2f-%.2f   p99 ms median nginx %.2f, edged %.2f\n",
				c, mn, me, me / mn, lo, hi, median(pn, nn), median(pe, ne)
		}' "$RESULTS"
done
