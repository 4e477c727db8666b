# lib.sh: what the load scripts share. Source it after setting NAME (for messages):
#   need_tools TOOL...   exit unless every tool is on PATH
#   TMP, PIDS            a temp dir and the background processes, cleaned up at exit
#   WRK_CPU, SRV_CPU     taskset prefixes pinning wrk to core 0 and servers to core 1
#   wait_port PORT       wait until something listens on 127.0.0.1:PORT
#   cpu_ticks PID...     utime+stime of the processes, in clock ticks (CLK_TCK per second)
#   measure CONNS URL "PID..." [WRK_ARG...]
#                        one wrk run of DURATION (wrk pinned by WRK_CPU); sets RPS, P99,
#                        ERRS and CPU (the PIDs' CPU µs per request, "-" with no requests)

need_tools() {
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "$NAME: $tool not found" >&2; exit 1; }
	done
}

TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT

WRK_CPU=() SRV_CPU=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	WRK_CPU=(taskset -c 0) SRV_CPU=(taskset -c 1)
fi

wait_port() {
	for _ in $(seq 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "$NAME: nothing listening on 127.0.0.1:$1" >&2
	exit 1
}

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {
	local total=0 pid
	for pid in "$@"; do
		# Fields after the ")" of comm: state is $1, utime $12, stime $13.
		total=$((total + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
	done
	echo "$total"
}

measure() {
	local conns=$1 url=$2 pids=$3 before after out reqs
	shift 3
	# shellcheck disable=SC2086
	before=$(cpu_ticks $pids)
	out=$("${WRK_CPU[@]}" wrk -t1 -c"$conns" -d"$DURATION" --latency "$@" "$url")
	# shellcheck disable=SC2086
	after=$(cpu_ticks $pids)
	RPS=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	P99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	ERRS=$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")
	CPU=$(awk -v d=$((after - before)) -v hz="$CLK_TCK" -v n="$reqs" \
		'BEGIN { if (n > 0) printf "%.1f", d * 1e6 / hz / n; else print "-" }')
}
