# lib.sh: what the load scripts share. Source it after setting NAME (for messages):
#   need_tools TOOL...   exit unless every tool is on PATH
#   TMP, PIDS            a temp dir and the background processes, cleaned up at exit
#   WRK_CPU, SRV_CPU     taskset prefixes pinning wrk to core 0 and servers to core 1
#   wait_port PORT       wait until something listens on 127.0.0.1:PORT
#   admin_token FILE     write a random admin token to FILE, readable by its owner only
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

admin_token() {
	(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1")
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

# start_nginx PORT UPSTREAM_PORT [PREFIX...]: nginx as a reverse proxy on 127.0.0.1:PORT to
# 127.0.0.1:UPSTREAM_PORT, with one worker, an upstream keepalive pool covering the largest
# connection count (docs/proxy.md, trap 11), its own pid file, logs and temp paths under
# $TMP/nginx, run as the current user. PREFIX (e.g. taskset -c 1) runs before nginx. Sets
# NGINX_PID and adds it to PIDS.
start_nginx() {
	local port=$1 up=$2
	shift 2
	mkdir -p "$TMP/nginx/logs"
	local user_line=""
	if [ "$(id -u)" -eq 0 ]; then user_line="user root;"; fi
	cat >"$TMP/nginx/nginx.conf" <<CONF
$user_line
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
	upstream legacy { server 127.0.0.1:$up; keepalive 512; }
	server {
		listen 127.0.0.1:$port;
		location / {
			proxy_pass http://legacy;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
CONF
	"$@" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' &
	PIDS+=($!)
	NGINX_PID=$!
}
