package fleetrate

import (
	"encoding/binary"
	"testing"
)

// TestSipHash checks sipHash against the SipHash-2-4 reference outputs
// (vectors.h of the reference code): key 00 01 .. 0f, message 00 01 .. n-1.
func TestSipHash(t *testing.T) {
	var key [16]byte
	for i := range key {
		key[i] = byte(i)
	}
	k0, k1 := binary.LittleEndian.Uint64(key[:8]), binary.LittleEndian.Uint64(key[8:])
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i)
	}
	tests := []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},
		{1, 0x74f839c593dc67fd},
		{7, 0xab0200f58b01d137},
		{8, 0x93f5f5799a932462},
		{15, 0xa129ca6149be45e5}, // the example of the SipHash paper
		{16, 0x3f2acc7f57c29bdb},
		{63, 0x958a324ceb064572},
	}
	for _, tc := range tests {
		if got := sipHash(k0, k1, msg[:tc.n]); got != tc.want {
			t.Errorf("sipHash of %d bytes = %#016x, want %#016x", tc.n, got, tc.want)
		}
	}
}

func BenchmarkSipHash(b *testing.B) {
	key := []byte("i\xcb\x00\x71\x07") // an IPv4 client key as the router builds it
	b.ReportAllocs()
	for b.Loop() {
		sipHash(1, 2, key)
	}
}
