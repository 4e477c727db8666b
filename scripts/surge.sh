#!/usr/bin/env bash
# surge.sh: the connection surge and the cold burst of docs/performance.md, end
# to end on loopback. It builds edged, the example monolith and scripts/surge,
# starts the monolith and `edged serve` with a config of four routes:
#
#   /hello  legacy    the monolith answers through the legacy proxy
#   /fast   retired   the hello-c guest from a warm pool
#   /cold   retired   the Go hello guest, min_instances = 0, max_instances = 8
#   /busy   retired   a guest that spins a few ms, min_instances = 0,
#                     max_instances = 2, max_wait = 50ms: most of a burst gets 503
#
# then runs, in this order:
#   1. the connection surge: CONNS keep-alive connections to /hello and /fast from
#      PROCS client processes within RAMP, one request every INTERVAL per
#      connection, held HOLD (surge -mode conns); edged's RSS before (after one
#      request per route) and during. It goes first so that no garbage left by
#      another phase makes room for the connections in the "before" figure.
#   2. a cold burst on /cold and one on /busy (surge -mode burst): nothing has
#      called those functions yet, so they start with no instance
#
# Usage: scripts/surge.sh   (CONNS=50000 PROCS=4 RAMP=4s INTERVAL=5s HOLD=20s
#                            BURST_CONNS=256 BURST=1s by default)
# EDGED=/path/to/edged runs a prebuilt binary instead of building one, to compare
# two builds. The whole run is bounded by LIMIT (default 300s) and stops by itself.
#
# File descriptors: edged needs one per connection. Where it may (root with
# CAP_SYS_RESOURCE), the script raises the hard limit of edged and the clients to
# 131072, what deploy/edged.service sets; otherwise edged gets `ulimit -Hn`, and
# CONNS is lowered to fit under it with a margin of 1000 (said on stderr).
set -euo pipefail

CONNS=${CONNS:-50000}
PROCS=${PROCS:-4}
RAMP=${RAMP:-4s}
INTERVAL=${INTERVAL:-5s}
HOLD=${HOLD:-20s}
BURST_CONNS=${BURST_CONNS:-256}
BURST=${BURST:-1s}
LIMIT=${LIMIT:-300}
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
PORT=${PORT:-18180}
ADMIN_PORT=${ADMIN_PORT:-18181}
MONOLITH_PORT=${MONOLITH_PORT:-18182}
EDGED=${EDGED:-}

NAME=surge
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"
need_tools go

# The whole run is bounded: after LIMIT seconds this shell stops, and lib.sh's
# cleanup stops edged and the monolith.
# The watchdog's own sleep goes with it when cleanup stops it.
(
	trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
	sleep "$LIMIT" &
	sleeper=$!
	wait "$sleeper" && echo "$NAME: stopped after ${LIMIT}s" >&2 && kill -TERM $$
) &
WATCHDOG=$!
PIDS+=("$WATCHDOG")

NOFILE=131072
LIMITS=()
if command -v prlimit >/dev/null && prlimit --nofile="$NOFILE:$NOFILE" true 2>/dev/null; then
	LIMITS=(prlimit --nofile="$NOFILE:$NOFILE")
else
	hard=$(ulimit -Hn)
	if [ "$hard" != unlimited ] && [ "$hard" -lt $((CONNS + 1000)) ]; then
		CONNS=$((hard - 1000))
		echo "$NAME: open files hard limit $hard, and no permission to raise it: CONNS lowered to $CONNS" >&2
	fi
fi

(
	cd "$REPO"
	if [ -n "$EDGED" ]; then cp "$EDGED" "$TMP/edged"; else go build -o "$TMP/edged" ./cmd/edged; fi
	go build -o "$TMP/monolith" ./examples/monolith
	go build -o "$TMP/surge" ./scripts/surge
)

admin_token "$TMP/admin.token"
cat >"$TMP/router.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
drain_delay = "0s"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"
token_file = "$TMP/admin.token"

[runtime]
cache_dir = "$TMP/cache"
state_dir = "$TMP/state"

[upstreams.monolith]
url = "http://127.0.0.1:$MONOLITH_PORT"
max_conns = 512

[functions.fast]
module = "$REPO/examples/guests/hello-c/hello-c.wasm"
min_instances = 2
max_instances = 16

[functions.cold]
module = "$REPO/examples/guests/hello/hello.wasm"
min_instances = 0
max_instances = 8
max_wait = "1s"

[functions.busy]
module = "$REPO/isolate/testdata/slow.wasm"
min_instances = 0
max_instances = 2
max_wait = "50ms"

[[routes]]
name = "legacy"
path = "/hello"
stage = "legacy"
upstream = "monolith"

[[routes]]
name = "fast"
path = "/fast"
stage = "retired"
function = "fast"

[[routes]]
name = "cold"
path = "/cold"
stage = "retired"
function = "cold"

[[routes]]
name = "busy"
path = "/busy"
stage = "retired"
function = "busy"
TOML

"$TMP/monolith" -listen "127.0.0.1:$MONOLITH_PORT" -quiet &
PIDS+=($!)
"${LIMITS[@]}" "$TMP/edged" serve -config "$TMP/router.toml" -log-level warn 2>"$TMP/edged.log" >/dev/null &
EDGED_PID=$!
PIDS+=("$EDGED_PID")
wait_port "$MONOLITH_PORT"
for _ in $(seq 600); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
	kill -0 "$EDGED_PID" 2>/dev/null || { cat "$TMP/edged.log" >&2; exit 1; }
	sleep 0.1
done
wait_port "$PORT"
curl_once() { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; printf 'GET %s HTTP/1.0\r\n\r\n' "$1" >&3; head -c 12 <&3 >/dev/null; exec 3>&-; }
curl_once /hello; curl_once /fast
echo "edged $("$TMP/edged" version), pid $EDGED_PID, $(nproc) cores (shared), GOMAXPROCS unset"
grep -m1 "open files" "$TMP/edged.log" || true

echo
echo "== connection surge"
"${LIMITS[@]}" "$TMP/surge" -mode conns -addr "127.0.0.1:$PORT" -pid "$EDGED_PID" -conns "$CONNS" -procs "$PROCS" \
	-paths /hello,/fast -ramp "$RAMP" -interval "$INTERVAL" -hold "$HOLD"

echo
echo "== cold burst: /cold (Go guest, 0 -> max_instances 8, max_wait 1s)"
"${LIMITS[@]}" "$TMP/surge" -mode burst -url "http://127.0.0.1:$PORT/cold" -conns "$BURST_CONNS" -duration "$BURST" \
	-metrics "http://127.0.0.1:$ADMIN_PORT/metrics" -function cold
echo
echo "== cold burst: /busy (a few ms of guest work, 0 -> max_instances 2, max_wait 50ms)"
"${LIMITS[@]}" "$TMP/surge" -mode burst -url "http://127.0.0.1:$PORT/busy" -conns "$BURST_CONNS" -duration "$BURST" \
	-metrics "http://127.0.0.1:$ADMIN_PORT/metrics" -function busy

if grep -q "level=ERROR" "$TMP/edged.log"; then
	echo "edged logged errors:" >&2
	grep "level=ERROR" "$TMP/edged.log" | sort | uniq -c | sort -rn | head >&2
fi
kill "$WATCHDOG" 2>/dev/null || true
