// Package abi holds the pure-Go encodings of the guest ABI that the guest SDK
// (package guest) shares with its tests: splitting the packed i64 results of
// the http-wasm and edged host functions, NUL-terminated string lists and
// name\0value\0 pair lists, the edged error codes, and the diff of a request
// that a middleware modified.
//
// It has no build constraint so that it is tested with the host toolchain; the
// SDK itself only builds for GOOS=wasip1. Nothing here calls the host.
//
// The format of every encoding is specified in docs/abi.md.
package abi
