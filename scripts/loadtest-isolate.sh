#!/usr/bin/env bash
# loadtest-isolate.sh: compare an isolate route (the full router pipeline: match, invoke
# the hello-c guest from a warm pool with deadlines enforced, write the answer) with a
# native fasthttp handler giving the same answer, in the same run, on loopback. docs/performance.md's
# target: the isolate route reaches >= 80% of the native handler's requests/s.
#
# Usage: scripts/loadtest-isolate.sh    (DURATION=10s CONNS="64 256" ROUNDS=3 by default)
# LOADPROXY=/path/to/binary runs a prebuilt ./scripts/loadproxy instead of building one,
# to compare two builds on the same machine.
# Needs: go, wrk (Debian: apt-get install wrk). Pins wrk to core 0 and the servers to core 1
# with taskset when there are >= 2 cores. Prints req/s, p99 and server CPU µs per request.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNS=${CONNS:-"64 256"}
ROUNDS=${ROUNDS:-3}
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
NATIVE_PORT=${NATIVE_PORT:-18093}
ISO_PORT=${ISO_PORT:-18094}
LOADPROXY=${LOADPROXY:-}

NAME=loadtest-isolate
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"
need_tools go wrk

if [ -n "$LOADPROXY" ]; then
	cp "$LOADPROXY" "$TMP/loadproxy"
else
	(cd "$REPO" && go build -o "$TMP/loadproxy" ./scripts/loadproxy)
fi

GOMAXPROCS=1 "${SRV_CPU[@]}" "$TMP/loadproxy" -mode native -listen "127.0.0.1:$NATIVE_PORT" &
PIDS+=($!)
NATIVE_PID=$!
(cd "$REPO" && GOMAXPROCS=1 "${SRV_CPU[@]}" "$TMP/loadproxy" -mode isolate -listen "127.0.0.1:$ISO_PORT" \
	-guest examples/guests/hello-c/hello-c.wasm) &
PIDS+=($!)
wait_port "$NATIVE_PORT"; wait_port "$ISO_PORT"
ISO_PID=$(pgrep -f "loadproxy -mode isolate -listen 127.0.0.1:$ISO_PORT" | head -1)


printf '%-8s %6s %10s %10s %12s\n' target conns "req/s" p99 "cpu_us/req"
for round in $(seq "$ROUNDS"); do
	for c in $CONNS; do
		declare -A rps
		for target in native isolate; do
			case $target in
			native) port=$NATIVE_PORT; pid=$NATIVE_PID ;;
			isolate) port=$ISO_PORT; pid=$ISO_PID ;;
			esac
			measure "$c" "http://127.0.0.1:$port/fast" "$pid"
			rps[$target]=$RPS
			printf '%-8s %6s %10s %10s %12s %s\n' "$target" "$c" "$RPS" "$P99" "$CPU" "$ERRS"
		done
		awk -v a="${rps[isolate]}" -v b="${rps[native]}" 'BEGIN { printf "ratio isolate/native: %.2f\n", a / b }'
	done
done
