package strangler

import (
	"errors"
	"testing"
)

func TestStageString(t *testing.T) {
	tests := []struct {
		s    Stage
		want string
	}{
		{StageLegacy, "legacy"},
		{StageShadow, "shadow"},
		{StageCanary, "canary"},
		{StageIsolate, "isolate"},
		{StageRetired, "retired"},
		{Stage(5), "Stage(5)"},
		{Stage(255), "Stage(255)"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.s.String(); got != tc.want {
				t.Errorf("Stage(%d).String() = %q, want %q", uint8(tc.s), got, tc.want)
			}
		})
	}
}

func TestParseStage(t *testing.T) {
	tests := []struct {
		in      string
		want    Stage
		wantErr bool
	}{
		{"legacy", StageLegacy, false},
		{"shadow", StageShadow, false},
		{"canary", StageCanary, false},
		{"isolate", StageIsolate, false},
		{"retired", StageRetired, false},
		{"Canary", StageCanary, false},
		{" ISOLATE ", StageIsolate, false},
		{"", 0, true},
		{"legacyx", 0, true},
		{"Stage(5)", 0, true},
		{"3", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseStage(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrUnknownStage) {
					t.Errorf("ParseStage(%q) error = %v, want ErrUnknownStage", tc.in, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseStage(%q) = %v, %v, want %v, nil", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestStageText(t *testing.T) {
	for s := StageLegacy; s <= StageRetired; s++ {
		t.Run(s.String(), func(t *testing.T) {
			b, err := s.MarshalText()
			if err != nil {
				t.Fatalf("MarshalText(%v) error = %v", s, err)
			}
			var got Stage
			if err := got.UnmarshalText(b); err != nil || got != s {
				t.Errorf("UnmarshalText(%q) = %v, %v, want %v, nil", b, got, err, s)
			}
		})
	}
	if _, err := Stage(9).MarshalText(); !errors.Is(err, ErrUnknownStage) {
		t.Errorf("MarshalText(Stage(9)) error = %v, want ErrUnknownStage", err)
	}
	got := StageCanary
	if err := got.UnmarshalText([]byte("nope")); err == nil || got != StageCanary {
		t.Errorf("UnmarshalText(%q) = %v, %v, want error and stage unchanged", "nope", got, err)
	}
}

func FuzzParseStage(f *testing.F) {
	for _, s := range []string{"legacy", "Shadow", " canary", "isolate", "retired", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStage(s)
		if err != nil {
			if !errors.Is(err, ErrUnknownStage) {
				t.Fatalf("ParseStage(%q) error = %v, want ErrUnknownStage", s, err)
			}
			return
		}
		if !st.Valid() {
			t.Fatalf("ParseStage(%q) = %v, not a valid stage", s, st)
		}
		// A parsed stage round-trips through its canonical name.
		again, err := ParseStage(st.String())
		if err != nil || again != st {
			t.Fatalf("ParseStage(%q) = %v, %v, want %v, nil", st.String(), again, err, st)
		}
	})
}
