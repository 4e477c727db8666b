package main

import (
	"testing"
	"time"
)

func TestHistQuantile(t *testing.T) {
	h := newHist()
	for i := 1; i <= 100; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	other := newHist()
	other.add(time.Second)
	h.merge(other)
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 51 * time.Millisecond},
		{0.99, 100 * time.Millisecond},
		{1, time.Second},
	} {
		got := h.quantile(tc.q)
		// A bucket's upper bound is within histBase of the values it holds.
		if got < tc.want || float64(got) > float64(tc.want)*histBase*histBase {
			t.Errorf("quantile(%v) = %v, want %v (+4%%)", tc.q, got, tc.want)
		}
	}
	if newHist().quantile(0.5) != 0 {
		t.Error("quantile of an empty histogram is not 0")
	}
}

func TestSourceAddr(t *testing.T) {
	for _, tc := range []struct {
		i, per int
		want   string
	}{
		{0, 25000, "127.0.0.2"},
		{24999, 25000, "127.0.0.2"},
		{25000, 25000, "127.0.0.3"},
		{254 * 10, 10, "127.0.1.0"},
	} {
		if got := sourceAddr(tc.i, tc.per); got != tc.want {
			t.Errorf("sourceAddr(%d, %d) = %s, want %s", tc.i, tc.per, got, tc.want)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"[::1]:8080", true},
		{"10.0.0.1:8080", false},
		{"localhost:8080", false}, // names are not resolved: an IP only
		{"127.0.0.1", false},
	} {
		if err := loopbackOnly(tc.addr); (err == nil) != tc.ok {
			t.Errorf("loopbackOnly(%q) = %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
}
