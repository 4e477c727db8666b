#!/usr/bin/env bash
# loadtest-tracing.sh: what tracing costs an isolate route (the full router pipeline
# invoking the hello-c guest, the cheapest request edged serves, so the largest relative
# cost), in the same run, on loopback:
#   off        no tracing (router.World.Tracing nil; a library embedder's default)
#   propagate  trace context continued or started and passed on, nothing recorded
#              (the daemon's default without [tracing] endpoint)
#   record     every request sampled, its spans exported over OTLP/HTTP to a local sink
#              (the OpenTelemetry SDK's batching, protobuf and HTTP included)
# Prints req/s, p99 and the server's CPU µs per request (the sink's CPU is not counted:
# a collector runs elsewhere), and each mode's req/s as a ratio of off's in the same round.
#
# Usage: scripts/loadtest-tracing.sh    (DURATION=10s CONNS="64 256" ROUNDS=3 by default)
# Needs: go, wrk. Pins wrk and the sink to core 0 and the servers to core 1 with taskset
# when there are >= 2 cores.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNS=${CONNS:-"64 256"}
ROUNDS=${ROUNDS:-3}
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
OFF_PORT=${OFF_PORT:-18111}
PROP_PORT=${PROP_PORT:-18112}
REC_PORT=${REC_PORT:-18113}
SINK_PORT=${SINK_PORT:-18114}

NAME=loadtest-tracing
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"
need_tools go wrk

(cd "$REPO" && go build -o "$TMP/loadproxy" ./scripts/loadproxy)

"${WRK_CPU[@]}" "$TMP/loadproxy" -mode otlpsink -listen "127.0.0.1:$SINK_PORT" &
PIDS+=($!)
declare -A PORT=([off]=$OFF_PORT [propagate]=$PROP_PORT [record]=$REC_PORT) PID
for mode in off propagate record; do
	trace=$mode
	[ "$mode" = off ] && trace=""
	(cd "$REPO" && GOMAXPROCS=1 exec "${SRV_CPU[@]}" "$TMP/loadproxy" -mode isolate -listen "127.0.0.1:${PORT[$mode]}" \
		-guest examples/guests/hello-c/hello-c.wasm -trace "$trace" -otlp "http://127.0.0.1:$SINK_PORT") &
	PIDS+=($!)
	PID[$mode]=$!
done
for port in "$SINK_PORT" "${PORT[@]}"; do wait_port "$port"; done

printf '%-6s %-10s %6s %10s %10s %12s\n' round mode conns "req/s" p99 "cpu_us/req"
for round in $(seq "$ROUNDS"); do
	for c in $CONNS; do
		declare -A rps
		for mode in off propagate record; do
			measure "$c" "http://127.0.0.1:${PORT[$mode]}/fast" "${PID[$mode]}"
			rps[$mode]=$RPS
			printf '%-6s %-10s %6s %10s %10s %12s %s\n' "$round" "$mode" "$c" "$RPS" "$P99" "$CPU" "$ERRS"
		done
		awk -v o="${rps[off]}" -v p="${rps[propagate]}" -v r="${rps[record]}" -v c="$c" -v round="$round" \
			'BEGIN { printf "ratio round %s c%s: propagate/off %.3f  record/off %.3f\n", round, c, p / o, r / o }'
	done
done
