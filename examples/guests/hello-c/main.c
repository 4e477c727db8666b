// hello-c is an edged function with no language runtime: C compiled with
// Debian's clang and wasi-libc headers, using the http-wasm host functions
// directly. It is the "runtime-less" class that edged's cold-start and warm
// path targets are measured with.
//
//   POST|PUT /fast/echo  -> 200, the request body (at most 1 KiB) echoed back
//                           with content-type application/octet-stream (any
//                           query string is ignored)
//   anything else        -> 200, "Hello from C\n", text/plain
//
// Build (or run examples/build-guests.sh):
//
//   clang-14 --target=wasm32-wasi -O2 -nostartfiles \
//     -Wl,--no-entry -Wl,--export=handle_request -Wl,--export=handle_response \
//     -Wl,-z,stack-size=8192 -Wl,--initial-memory=65536 \
//     -Wl,--max-memory=65536 -Wl,--strip-all -o hello-c.wasm main.c
//
// Debian's wasi-libc installs into the multiarch paths that clang searches
// for this target (/usr/include/wasm32-wasi, /usr/lib/wasm32-wasi), so no
// --sysroot is needed. -nostartfiles and --no-entry make a reactor without
// _start or _initialize: there are no constructors to run, so the host only
// instantiates and calls handle_request. One 64 KiB page of memory is enough
// (8 KiB of stack, the 1 KiB echo buffer and the constants) and keeps
// instantiation cheap.
#include <stdint.h>

#define IMPORT(name) \
	__attribute__((import_module("http_handler"), import_name(#name)))

IMPORT(get_method) int32_t get_method(char *buf, int32_t limit);
IMPORT(get_uri) int32_t get_uri(char *buf, int32_t limit);
IMPORT(read_body) int64_t read_body(int32_t kind, char *buf, int32_t limit);
IMPORT(write_body) void write_body(int32_t kind, const char *buf, int32_t len);
IMPORT(set_status_code) void set_status_code(int32_t code);
IMPORT(set_header_value)
void set_header_value(int32_t kind, const char *name, int32_t name_len,
		      const char *value, int32_t value_len);

enum { kind_request = 0, kind_response = 1 };
enum { echo_max = 1024 };

static char method[16];
static char uri[64];
static char body[echo_max];

#define LIT(s) s, (int32_t)(sizeof(s) - 1)

// path_len returns the length of the path part of a URI: up to the '?'.
static int32_t path_len(const char *uri, int32_t n) {
	for (int32_t i = 0; i < n; i++)
		if (uri[i] == '?')
			return i;
	return n;
}

static int equal(const char *a, int32_t n, const char *b, int32_t m) {
	if (n != m)
		return 0;
	for (int32_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

// echo reads up to echo_max bytes of the request body and writes them back.
static void echo(void) {
	int32_t n = 0;
	while (n < echo_max) {
		int64_t r = read_body(kind_request, body + n, echo_max - n);
		n += (int32_t)(uint32_t)r;  // low 32 bits: bytes read
		if (r >> 32)                // high 32 bits: EOF
			break;
	}
	set_status_code(200);
	set_header_value(kind_response, LIT("content-type"),
			 LIT("application/octet-stream"));
	write_body(kind_response, body, n);
}

__attribute__((export_name("handle_request"))) int64_t handle_request(void) {
	int32_t m = get_method(method, sizeof method);
	int32_t u = get_uri(uri, sizeof uri);
	// A value longer than the buffer is not written (and cannot match).
	if (u <= (int32_t)sizeof uri &&
	    equal(uri, path_len(uri, u), LIT("/fast/echo")) &&
	    m <= (int32_t)sizeof method &&
	    (equal(method, m, LIT("POST")) || equal(method, m, LIT("PUT")))) {
		echo();
		return 0;
	}
	set_status_code(200);
	set_header_value(kind_response, LIT("content-type"),
			 LIT("text/plain; charset=utf-8"));
	write_body(kind_response, LIT("Hello from C\n"));
	return 0;  // next=0: the guest wrote the response
}

// handle_response is never called (handle_request never returns next=1), but
// the ABI requires the export.
__attribute__((export_name("handle_response"))) void
handle_response(int32_t req_ctx, int32_t is_error) {
	(void)req_ctx;
	(void)is_error;
}
