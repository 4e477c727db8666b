package abi

import (
	"net/http"
	"testing"
)

func BenchmarkParsePairs(b *testing.B) {
	var buf []byte
	for _, kv := range [][2]string{{"content-type", "application/json"}, {"content-length", "1024"},
		{"date", "Wed, 25 Nov 2026 22:00:00 GMT"}, {"server", "monolith"}} {
		buf = AppendPair(buf, kv[0], kv[1])
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		_ = ParsePairs(buf, func(n, v []byte) {})
	}
}

func BenchmarkAppendPair(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPair(buf[:0], "authorization", "Bearer 0123456789abcdef")
		buf = AppendPair(buf, "accept", "application/json")
	}
}

func BenchmarkDiffHeaderUnchanged(b *testing.B) {
	h := http.Header{"Accept": {"*/*"}, "User-Agent": {"wrk"}, "X-Request-Id": {"abc"}}
	c := h.Clone()
	b.ReportAllocs()
	for b.Loop() {
		DiffHeader(h, c, func(HeaderOp) {})
	}
}
