package limits

import (
	"fmt"
	"sync"
	"testing"
)

func TestCappedBuffer(t *testing.T) {
	tests := []struct {
		name      string
		limit     Size
		writes    []string
		want      string
		truncated bool
	}{
		{"under", 10, []string{"abc", "def"}, "abcdef", false},
		{"exact", 6, []string{"abc", "def"}, "abcdef", false},
		{"over in one write", 4, []string{"abcdef"}, "abcd", true},
		{"over across writes", 4, []string{"abc", "def", "ghi"}, "abcd", true},
		{"zero limit", 0, []string{"a"}, "", true},
		{"negative limit", -5, []string{"a"}, "", true},
		{"empty writes", 3, []string{"", ""}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCappedBuffer(tc.limit)
			total := 0
			for _, w := range tc.writes {
				n, err := fmt.Fprint(c, w)
				if n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v, want %d, nil", w, n, err, len(w))
				}
				total += n
			}
			if got := string(c.Bytes()); got != tc.want {
				t.Errorf("Bytes() = %q, want %q", got, tc.want)
			}
			if c.Truncated() != tc.truncated {
				t.Errorf("Truncated() = %v, want %v", c.Truncated(), tc.truncated)
			}
			if c.Total() != int64(total) {
				t.Errorf("Total() = %d, want %d", c.Total(), total)
			}
			c.Reset()
			if len(c.Bytes()) != 0 || c.Truncated() || c.Total() != 0 {
				t.Errorf("after Reset: Bytes %q, Truncated %v, Total %d", c.Bytes(), c.Truncated(), c.Total())
			}
		})
	}
}

func TestCappedBufferBytesStableUntilReset(t *testing.T) {
	c := NewCappedBuffer(8)
	c.Write([]byte("abc"))
	got := c.Bytes()
	c.Write([]byte("defgh"))
	if string(got) != "abc" {
		t.Errorf("earlier Bytes() = %q after more writes, want %q", got, "abc")
	}
	if grown := append(got, 'X'); string(c.Bytes()) != "abcdefgh" || string(grown) != "abcX" {
		t.Errorf("appending to Bytes() changed the buffer to %q", c.Bytes())
	}
}

func TestCappedBufferConcurrent(t *testing.T) {
	c := NewCappedBuffer(1000)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				c.Write([]byte("0123456789"))
			}
		})
	}
	wg.Wait()
	if len(c.Bytes()) != 1000 || c.Total() != 4000 || !c.Truncated() {
		t.Errorf("len(Bytes()) = %d, Total() = %d, Truncated() = %v, want 1000, 4000, true",
			len(c.Bytes()), c.Total(), c.Truncated())
	}
}

func BenchmarkCappedBufferWrite(b *testing.B) {
	c := NewCappedBuffer(64 * KiB)
	line := []byte("level=info msg=\"hello from the guest\"\n")
	b.ReportAllocs()
	for b.Loop() {
		c.Write(line)
		if c.Total() > 1<<20 {
			c.Reset()
		}
	}
}
