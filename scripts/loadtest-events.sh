#!/usr/bin/env bash
# loadtest-events.sh: how fast edged's trigger drains a queue into a real guest, against a
# bare nats.go consumer acking the same CloudEvents (JetStream's floor), side by side.
#
# One JetStream server of its own (scripts/loadevents -mode server: edged's events engine
# alone, listening on loopback) and two consumers of it, each a separate process on a
# TCP connection to it, so what differs is only the consumer:
#   trigger  `edged serve` with `[events] url` at the server and one queue trigger running
#            the hello-c guest (C, no runtime: the trivial guest) for every event
#   bare     scripts/loadevents -mode bare: a jetstream.Consume callback that only acks
# Each round fills the queue with N events first (the trigger's edged stopped meanwhile),
# then times the drain: from the first event that leaves the stream to the last, polled
# every 2 ms, so edged's start-up is not counted. The server is pinned to core 1 and the
# consumers to core 0 (taskset, when there are 2 cores). Prints events/s and the CPU µs per
# event of server plus consumer, and per round the ratio trigger/bare; the order of the
# two alternates from round to round.
#
# Usage: scripts/loadtest-events.sh          (N=20000 ROUNDS=4 SYNC=interval DEDUP=record by default)
#        SYNC=always N=3000 scripts/loadtest-events.sh
#        DEDUP=window scripts/loadtest-events.sh   (the trigger keeps no completion records)
# EDGED=/path/to/edged runs a prebuilt edged instead of building one, to compare two builds.
# Needs: go, taskset (optional). Installs nothing. Loopback only; stops after its rounds.
set -euo pipefail

N=${N:-20000}
ROUNDS=${ROUNDS:-4}
SYNC=${SYNC:-interval}
DEDUP=${DEDUP:-record}
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
NATS_PORT=${NATS_PORT:-18422}
HTTP_PORT=${HTTP_PORT:-18423}
ADMIN_PORT=${ADMIN_PORT:-18424}
EDGED=${EDGED:-}

NAME=loadtest-events
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"
need_tools go

if [ -n "$EDGED" ]; then
	cp "$EDGED" "$TMP/edged"
else
	(cd "$REPO" && go build -o "$TMP/edged" ./cmd/edged)
fi
(cd "$REPO" && go build -o "$TMP/loadevents" ./scripts/loadevents)
URL="nats://127.0.0.1:$NATS_PORT"
# SRV_CPU pins the server to core 1; the consumers take core 0 (WRK_CPU's core).
CONS_CPU=("${WRK_CPU[@]}")

"${SRV_CPU[@]}" "$TMP/loadevents" -mode server -listen "127.0.0.1:$NATS_PORT" -store "$TMP/js" -sync "$SYNC" \
	-timeout 2h &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_port "$NATS_PORT"

admin_token "$TMP/admin.token"
cat >"$TMP/router.toml" <<TOML
[server]
listen = "127.0.0.1:$HTTP_PORT"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"
token_file = "$TMP/admin.token"

[runtime]
cache_dir = "$TMP/cache"
state_dir = "$TMP/state"

[events]
url = "$URL"

[functions.c]
module = "$REPO/examples/guests/hello-c/hello-c.wasm"
timeout = "1s"

[[triggers]]
name = "load"
function = "c"
subject = "load.guest"
dedup = "$DEDUP"
TOML

EDGED_PID=
start_edged() {
	"${CONS_CPU[@]}" "$TMP/edged" serve -config "$TMP/router.toml" -log-level warn 2>>"$TMP/edged.log" &
	EDGED_PID=$!
	PIDS+=("$EDGED_PID")
	for _ in $(seq 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null; then return 0; fi
		kill -0 "$EDGED_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "$NAME: edged did not start:" >&2
	cat "$TMP/edged.log" >&2
	exit 1
}
stop_edged() {
	kill "$EDGED_PID"
	wait "$EDGED_PID" 2>/dev/null || true
}

# The first start creates the trigger's stream and consumer, which later rounds fill
# with edged stopped.
start_edged
stop_edged

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }

printf '%-8s %8s %10s %14s\n' consumer events "events/s" "cpu_us/event"
for round in $(seq "$ROUNDS"); do
	order="trigger bare"
	if [ $((round % 2)) -eq 0 ]; then order="bare trigger"; fi
	declare -A rate
	for target in $order; do
		case $target in
		trigger)
			"$TMP/loadevents" -mode fill -url "$URL" -subject load.guest -n "$N"
			start_edged
			out=$("${CONS_CPU[@]}" "$TMP/loadevents" -mode watch -url "$URL" -stream EDGED_load \
				-pids "$SERVER_PID $EDGED_PID")
			stop_edged
			;;
		bare)
			out=$("${CONS_CPU[@]}" "$TMP/loadevents" -mode bare -url "$URL" -n "$N" -pids "$SERVER_PID")
			;;
		esac
		rate[$target]=$(field "$out" events/s)
		printf '%-8s %8s %10s %14s\n' "$target" "$(field "$out" events)" "${rate[$target]}" \
			"$(field "$out" cpu-us/event)"
	done
	awk -v a="${rate[trigger]}" -v b="${rate[bare]}" 'BEGIN { printf "ratio trigger/bare: %.2f\n", a / b }'
done
