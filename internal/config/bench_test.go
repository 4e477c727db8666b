package config

import (
	"os"
	"testing"
)

// BenchmarkDecode measures decoding the quick start's router.toml, which a
// reload does once; it is here to notice a regression, not for a target.
func BenchmarkDecode(b *testing.B) {
	data, err := os.ReadFile("testdata/valid/full.toml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data, "testdata"); err != nil {
			b.Fatal(err)
		}
	}
}
