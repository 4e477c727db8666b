package main

import (
	"errors"
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

func TestTallyBurst(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name                      string
		outs                      [][]outcome
		hung, with503, without503 int
		first, first503           time.Duration
		errs                      int
	}{
		{"nothing", nil, 0, 0, 0, -1, -1, 0},
		{"first answers by when they ended", [][]outcome{
			{{at: 0, r: result{status: 200, latency: 50 * ms}}, {at: 50 * ms, r: result{status: 200, latency: ms}}},
			{{at: 10 * ms, r: result{status: 200, latency: 5 * ms}}},
		}, 0, 0, 0, 15 * ms, -1, 0},
		{"503s with and without Retry-After", [][]outcome{
			{{at: 3 * ms, r: result{status: 503, retryAfter: true, latency: ms}}, {at: 0, r: result{status: 503, latency: 2 * ms}}},
		}, 0, 1, 1, -1, 2 * ms, 0},
		{"hung and failed", [][]outcome{
			{{at: 0, err: errTimeout}, {at: ms, err: errors.New("boom")}},
		}, 1, 0, 0, -1, -1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tallyBurst(tc.outs)
			errs := 0
			for _, n := range got.errs {
				errs += n
			}
			if got.hung != tc.hung || got.with503 != tc.with503 || got.without503 != tc.without503 ||
				got.first != tc.first || got.first503 != tc.first503 || errs != tc.errs {
				t.Errorf("tallyBurst = hung %d 503s %d/%d first %v/%v errors %d, want %d %d/%d %v/%v %d",
					got.hung, got.with503, got.without503, got.first, got.first503, errs,
					tc.hung, tc.with503, tc.without503, tc.first, tc.first503, tc.errs)
			}
		})
	}
}

func TestSurgeTallyAdd(t *testing.T) {
	rep := func(requests uint64) *pathReport { r := newPathReport(); r.Requests = requests; return r }
	tests := []struct {
		name               string
		msgs               []clientMsg
		ramped, done       int
		open, lost         int64
		dialErrs, requests uint64
	}{
		{"ramp of both processes", []clientMsg{{Ramped: true, Open: 3}, {Ramped: true, Open: 4}}, 2, 0, 7, 0, 0, 0},
		{"ends summed", []clientMsg{
			{Done: true, Lost: 1, DialErrors: map[string]uint64{"refused": 2}, Paths: map[string]*pathReport{"/a": rep(5)}},
			{Done: true, Lost: 2, DialErrors: map[string]uint64{"refused": 1}, Paths: map[string]*pathReport{"/a": rep(6)}},
		}, 0, 2, 0, 3, 3, 11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := surgeTally{dialErrs: map[string]uint64{}, paths: map[string]*pathReport{}}
			for _, m := range tc.msgs {
				s.add(m, 2, time.Now().Add(-time.Second))
			}
			var requests uint64
			if r := s.paths["/a"]; r != nil {
				requests = r.Requests
			}
			if s.ramped != tc.ramped || s.done != tc.done || s.open != tc.open || s.lost != tc.lost ||
				s.dialErrs["refused"] != tc.dialErrs || requests != tc.requests {
				t.Errorf("tally = ramped %d done %d open %d lost %d refused %d requests %d, want %d %d %d %d %d %d",
					s.ramped, s.done, s.open, s.lost, s.dialErrs["refused"], requests,
					tc.ramped, tc.done, tc.open, tc.lost, tc.dialErrs, tc.requests)
			}
			if tc.ramped == 2 && s.rampTook <= 0 {
				t.Errorf("rampTook = %v once every process ramped", s.rampTook)
			}
		})
	}
}
