#!/bin/sh
# Rebuilds the committed test modules from their .wat sources with wabt's
# wat2wasm (Debian package wabt). Run through `go generate` in the package
# directory.
set -e
cd "$(dirname "$0")"
for f in calls spin memory memory_max memory_big memory_import globals env; do
	wat2wasm --debug-names --enable-tail-call "$f.wat" -o "$f.wasm"
done
wat2wasm --debug-names --enable-threads --enable-tail-call features.wat -o features.wasm
