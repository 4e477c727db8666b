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
# Every round measures each target at each connection count, the order rotating by one
# target per round (A B, B A, ... or A B C, B C A, ...), so the machine's drift hits all
# alike. It prints req/s,
# p99 and CPU µs per request for each run and, per connection count, the ratio of the
# medians and the range of the per-round ratios edged/nginx, for req/s and per core
# (inverse CPU per request).
#
# BASE_REV=<git revision> adds a third target, "base": edged built from that revision
# (git archive, so the working tree is untouched) on its own port, measured in the same
# rounds, for a before/after of a change to the proxy side by side with nginx.
#
# Usage: scripts/nginx-compare.sh                  (DURATION=8s CONNS="64 256" ROUNDS=4)
#        DURATION=5s ROUNDS=6 scripts/nginx-compare.sh
#        BASE_REV=main scripts/nginx-compare.sh
# Needs: go, wrk, taskset, curl, nginx (and git for BASE_REV). Debian: apt-get install -y
# nginx wrk (nginx-light is enough). Installs nothing itself. Loopback only; stops after
# ROUNDS x |CONNS| x |targets| x DURATION plus start-up, and kills what it started on exit.
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
BASE_REV=${BASE_REV:-}
BASE_PORT=${BASE_PORT:-18185}
BASE_ADMIN_PORT=${BASE_ADMIN_PORT:-18186}

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
TARGETS="nginx edged"
if [ -n "$BASE_REV" ]; then
	mkdir -p "$TMP/base-src"
	git -C "$REPO" archive "$BASE_REV" | tar -x -C "$TMP/base-src"
	(cd "$TMP/base-src" && go build -o "$TMP/edged-base" ./cmd/edged)
	TARGETS="nginx edged base"
fi

GOMAXPROCS=1 taskset -c "$LOAD_CPU" "$TMP/loadproxy" -mode upstream -listen "127.0.0.1:$UP_PORT" &
PIDS+=($!)

# edged: one legacy route to the upstream, nothing else; the admin API on loopback.
# start_edged BINARY DIR PORT ADMIN_PORT starts one and sets STARTED_PID.
start_edged() {
	local bin=$1 dir=$2 port=$3 admin=$4
	mkdir -p "$dir"
	admin_token "$dir/admin.token"
	cat >"$dir/router.toml" <<CONF
[server]
listen = "127.0.0.1:$port"
drain_delay = "0s"
shutdown_timeout = "2s"

[admin]
listen = "127.0.0.1:$admin"
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
	GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$bin" serve -config "$dir/router.toml" \
		-log-level warn >"$dir/log" 2>&1 &
	PIDS+=($!)
	STARTED_PID=$!
}
start_edged "$TMP/edged" "$TMP/conf" "$EDGED_PORT" "$ADMIN_PORT"
EDGED_PID=$STARTED_PID
if [ -n "$BASE_REV" ]; then
	start_edged "$TMP/edged-base" "$TMP/conf-base" "$BASE_PORT" "$BASE_ADMIN_PORT"
	BASE_PID=$STARTED_PID
fi

start_nginx "$NGINX_PORT" "$UP_PORT" taskset -c "$PROXY_CPU"

port_of() {
	case $1 in
	nginx) echo "$NGINX_PORT" ;;
	edged) echo "$EDGED_PORT" ;;
	base) echo "$BASE_PORT" ;;
	esac
}
wait_port "$UP_PORT"
for target in $TARGETS; do
	wait_port "$(port_of "$target")"
	if ! curl -fsS -o /dev/null "http://127.0.0.1:$(port_of "$target")/"; then
		echo "$NAME: $target does not answer" >&2
		cat "$TMP"/conf*/log >&2
		exit 1
	fi
done
# The worker does the proxying; the master only waits.
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')

# Warm both (connection pools, Go's heap) before anything counts.
for target in $TARGETS; do
	"${WRK_CPU[@]}" wrk -t1 -c256 -d2s "http://127.0.0.1:$(port_of "$target")/" >/dev/null
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
	# Rotate the order by one target each round: A B C, B C A, C A B, ...
	order=$(awk -v r="$round" '{ n = split($0, t, " "); for (i = 0; i < n; i++) printf "%s ", t[(i + r - 1) % n + 1] }' <<<"$TARGETS")
	for c in $CONNS; do
		for target in $order; do
			port=$(port_of "$target")
			case $target in
			nginx) pids=$NGINX_WORKER ;;
			edged) pids=$EDGED_PID ;;
			base) pids=$BASE_PID ;;
			esac
			measure "$c" "http://127.0.0.1:$port/" "$pids"
			p99=$(ms "$P99")
			printf '%-5s %-6s %5s %10s %9s %11s %s\n' "$round" "$target" "$c" "$RPS" "$p99" "$CPU" "$ERRS"
			echo "$round $target $c $RPS $p99 $CPU" >>"$RESULTS"
		done
	done
done

# Per connection count and edged build: the per-round ratios (edged/nginx, same round)
# and the medians.
echo
# req/s depends on the CPU share the machine's other load leaves each proxy; CPU per
# request does not, so "per-core" (nginx's CPU µs per request / this one's: the req/s
# ratio both would reach with a core each to themselves) is the steadier figure.
printf '%-5s %-6s %-12s %-12s %-7s %-11s %-9s %-11s %s\n' conns target "nginx req/s" "req/s" ratio "per round" "per-core" "per round" "p99 ms (nginx, this)"
for c in $CONNS; do
	for target in $TARGETS; do
		[ "$target" = nginx ] && continue
		awk -v c="$c" -v t="$target" '
			function median(a, n,   i, j, x) {
				for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
				return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
			}
			$3 == c { rps[$2, $1] = $4; p99[$2, $1] = $5; cpu[$2, $1] = $6; rounds[$1] = 1 }
			END {
				k = 0; lo = clo = 1e9; hi = chi = 0
				for (r in rounds) {
					k++; n[k] = rps["nginx", r]; e[k] = rps[t, r]; pn[k] = p99["nginx", r]; pe[k] = p99[t, r]
					ratio = rps[t, r] / rps["nginx", r]
					if (ratio < lo) lo = ratio
					if (ratio > hi) hi = ratio
					pc[k] = cpu[t, r] > 0 ? cpu["nginx", r] / cpu[t, r] : 0
					if (pc[k] < clo) clo = pc[k]
					if (pc[k] > chi) chi = pc[k]
				}
				mn = median(n, k); me = median(e, k)
				printf "%-5s %-6s %-12.0f %-12.0f %-7.2f %.2f-%-6.2f %-9.2f %.2f-%-6.2f %.2f, %.2f\n", c, t, mn, me, me / mn, lo, hi,
					median(pc, k), clo, chi, median(pn, k), median(pe, k)
			}' "$RESULTS"
	done
done
