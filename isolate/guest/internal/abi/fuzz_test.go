package abi

import (
	"bytes"
	"testing"
)

func FuzzParseList(f *testing.F) {
	f.Add([]byte(""), uint32(0))
	f.Add([]byte("Accept\x00"), uint32(1))
	f.Add([]byte("a\x00b\x00"), uint32(2))
	f.Add([]byte("a\x00b"), uint32(2))
	f.Fuzz(func(t *testing.T, b []byte, count uint32) {
		var got [][]byte
		err := ParseList(b, count, func(s []byte) { got = append(got, bytes.Clone(s)) })
		if err != nil {
			return
		}
		if uint32(len(got)) != count {
			t.Fatalf("ParseList(%q, %d) gave %d strings", b, count, len(got))
		}
		var strs []string
		for _, s := range got {
			strs = append(strs, string(s))
		}
		if re := AppendList(nil, strs...); !bytes.Equal(re, b) {
			t.Fatalf("AppendList(ParseList(%q)) = %q", b, re)
		}
	})
}

func FuzzParsePairs(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("content-type\x00text/plain\x00"))
	f.Add([]byte("x\x00"))
	f.Add([]byte("a\x00\x00b\x00c\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var re []byte
		err := ParsePairs(b, func(n, v []byte) { re = AppendPair(re, string(n), string(v)) })
		if err != nil {
			return
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("AppendPair(ParsePairs(%q)) = %q", b, re)
		}
	})
}
