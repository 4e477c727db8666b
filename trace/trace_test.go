package trace

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseTraceparent(t *testing.T) {
	const (
		trace = "4bf92f3577b34da6a3ce929d0e0e4736"
		span  = "00f067aa0ba902b7"
	)
	tests := []struct {
		name  string
		in    string
		ok    bool
		flags byte
	}{
		{"sampled", "00-" + trace + "-" + span + "-01", true, 1},
		{"not sampled", "00-" + trace + "-" + span + "-00", true, 0},
		{"unknown flags dropped in version 00", "00-" + trace + "-" + span + "-ff", true, 1},
		{"future version with more fields", "cc-" + trace + "-" + span + "-01-what-the-future-holds", true, 1},
		{"future version keeps flags", "01-" + trace + "-" + span + "-03", true, 3},
		{"future version, bad separator", "cc-" + trace + "-" + span + "-01.x", false, 0},
		{"version 00 with more fields", "00-" + trace + "-" + span + "-01-x", false, 0},
		{"version ff", "ff-" + trace + "-" + span + "-01", false, 0},
		{"upper case", "00-" + strings.ToUpper(trace) + "-" + span + "-01", false, 0},
		{"zero trace id", "00-00000000000000000000000000000000-" + span + "-01", false, 0},
		{"zero span id", "00-" + trace + "-0000000000000000-01", false, 0},
		{"short", "00-" + trace + "-" + span + "-1", false, 0},
		{"empty", "", false, 0},
		{"not hex", "00-" + trace[:31] + "g-" + span + "-01", false, 0},
		{"wrong separators", "00_" + trace + "_" + span + "_01", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseTraceparent([]byte(tc.in))
			if ok != tc.ok {
				t.Fatalf("ParseTraceparent(%q) ok = %v, want %v", tc.in, ok, tc.ok)
			}
			if !ok {
				return
			}
			if got.TraceID.String() != trace || got.ParentID.String() != span || got.Flags != tc.flags {
				t.Errorf("ParseTraceparent(%q) = %s %s %x, want %s %s %x", tc.in, got.TraceID, got.ParentID, got.Flags,
					trace, span, tc.flags)
			}
		})
	}
}

func TestAppendTraceparent(t *testing.T) {
	tc, ok := ParseTraceparent([]byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	if !ok {
		t.Fatal("parse failed")
	}
	got := string(tc.AppendTraceparent(nil, SpanID{1, 2, 3, 4, 5, 6, 7, 8}))
	if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01"; got != want {
		t.Errorf("AppendTraceparent = %q, want %q", got, want)
	}
}

func TestValidTracestate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"one member", "rojo=00f067aa0ba902b7", true},
		{"two members with spaces", "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE", true},
		{"tenant key", "fw529a3039@dt=ZGV2", true},
		{"empty members", "a=1,,b=2", true},
		{"empty", "", true},
		{"upper case key", "Rojo=1", false},
		{"no value", "rojo=", false},
		{"no key", "=1", false},
		{"comma in value impossible, equals in value", "a=b=c", false},
		{"trailing space inside value", "a=b ", true}, // OWS is trimmed around members
		{"control character", "a=b\x01", false},
		{"33 members", strings.Repeat("a=1,", 32) + "a=1", false},
		{"over 512 bytes", "a=" + strings.Repeat("x", 256) + ",b=" + strings.Repeat("y", 256), false},
		{"key starts with digit ok", "0a=1", true},
		{"key starts with dash", "-a=1", false},
		{"two at signs", "a@b@c=1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidTracestate([]byte(tc.in)); got != tc.ok {
				t.Errorf("ValidTracestate(%q) = %v, want %v", tc.in, got, tc.ok)
			}
		})
	}
}

func TestNewIDs(t *testing.T) {
	seen := map[ID]bool{}
	for range 1000 {
		id := NewID()
		if id.IsZero() || seen[id] {
			t.Fatalf("NewID gave %s twice or zero", id)
		}
		seen[id] = true
		if NewSpanID().IsZero() {
			t.Fatal("NewSpanID gave zero")
		}
	}
}

func FuzzParseTraceparent(f *testing.F) {
	f.Add([]byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	f.Add([]byte("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"))
	f.Add([]byte("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		tc, ok := ParseTraceparent(in)
		if !ok {
			return
		}
		if tc.TraceID.IsZero() || tc.ParentID.IsZero() {
			t.Fatalf("ParseTraceparent(%q) accepted a zero id", in)
		}
		// What edged writes back must parse to the same trace.
		out := tc.AppendTraceparent(nil, tc.ParentID)
		back, ok := ParseTraceparent(out)
		if !ok || back.TraceID != tc.TraceID || back.ParentID != tc.ParentID || back.Sampled() != tc.Sampled() {
			t.Fatalf("round trip of %q via %q = %+v %v", in, out, back, ok)
		}
		if fl := string(in[53:55]); string(in[:2]) == "00" && (fl == "00" || fl == "01") && !bytes.Equal(out, in) {
			t.Fatalf("version 00 %q did not round-trip: %q", in, out)
		}
	})
}

func FuzzValidTracestate(f *testing.F) {
	f.Add([]byte("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"))
	f.Add([]byte("fw529a3039@dt=ZGV2"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if ValidTracestate(in) && len(in) > maxTracestate {
			t.Fatalf("ValidTracestate accepted %d bytes", len(in))
		}
	})
}
