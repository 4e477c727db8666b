#!/usr/bin/env bash
# build-guests.sh rebuilds every committed .wasm from its source, reproducibly,
# so that CI can run it and `git diff --exit-code` the results:
#
#   examples/guests/{hello,echo,jsonapi,authmw,fetch,orders}  Go, the isolate/guest SDK
#   examples/guests/hello-c                            C, clang + wasi-libc
#   isolate/testdata/*/ (goloop, ...)                  Go test guests, one per directory
#   isolate/testdata/*.wat                             wat2wasm (wabt)
#
# Requirements: the Go toolchain of go.mod (go1.26.8: the Go version is part of
# a Go guest's bytes), and Debian's clang-14, lld and wasi-libc, and wabt
# (apt-get install clang-14 lld wasi-libc wabt).
#
# Usage: examples/build-guests.sh        (from anywhere in the repository)
#        examples/build-guests.sh -v     (also print each output's size)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

want_go=go1.26.8
have_go=$(go env GOVERSION)
if [[ "$have_go" != "$want_go" ]]; then
	echo "build-guests.sh: warning: $have_go is not $want_go; Go guests will differ from the committed ones" >&2
fi

verbose=0
[[ "${1:-}" == "-v" ]] && verbose=1

report() {
	if ((verbose)); then
		printf '%9d  %s\n' "$(stat -c %s "$1")" "$1"
	fi
}

# Go guests. -trimpath and an empty build ID remove the paths and the
# build-dependent hash; the environment is pinned so that a developer's
# GOFLAGS or GOWASM cannot change the output.
go_guest() { # dir name
	env -u GOFLAGS GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 GOWASM= GOEXPERIMENT= \
		go build -trimpath -buildmode=c-shared -ldflags=-buildid= -o "$1/$2.wasm" "./$1"
	report "$1/$2.wasm"
}
for g in hello echo jsonapi authmw fetch orders; do
	go_guest "examples/guests/$g" "$g"
done
for dir in isolate/testdata/*/; do
	dir=${dir%/}
	if [[ -f "$dir/main.go" ]]; then
		go_guest "$dir" "$(basename "$dir")"
	fi
done

# The C guest: a reactor with no libc start files, one page of memory.
# Debian's wasi-libc lives in the multiarch paths clang already searches for
# --target=wasm32-wasi, so no --sysroot is needed.
clang=$(command -v clang-14 || command -v clang)
"$clang" --target=wasm32-wasi -O2 -nostartfiles \
	-Wl,--no-entry -Wl,--export=handle_request -Wl,--export=handle_response \
	-Wl,-z,stack-size=8192 -Wl,--initial-memory=65536 -Wl,--max-memory=65536 \
	-Wl,--strip-all \
	-o examples/guests/hello-c/hello-c.wasm examples/guests/hello-c/main.c
report examples/guests/hello-c/hello-c.wasm

# WAT test guests. wat2wasm writes no debug names unless asked, and the
# output depends only on the text.
for wat in isolate/testdata/*.wat; do
	wat2wasm "$wat" -o "${wat%.wat}.wasm"
	report "${wat%.wat}.wasm"
done

# Every module must validate.
for wasm in examples/guests/*/*.wasm isolate/testdata/*.wasm isolate/testdata/*/*.wasm; do
	wasm-validate "$wasm"
done
