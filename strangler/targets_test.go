package strangler

import "testing"

// TestTargets checks that a snapshot's Targets are published with its routes
// by ReplaceTargets, changed alone by SetTargets, and carried over by Replace
// and Update.
func TestTargets(t *testing.T) {
	a := []Route{{Name: "a", Path: "/a", Upstream: "u", Step: -1}}
	ab := append(a[:1:1], Route{Name: "b", Path: "/b", Upstream: "u", Step: -1})
	tb, err := NewTable(a)
	if err != nil {
		t.Fatal(err)
	}
	if got := tb.Snapshot().Targets(); got != nil {
		t.Fatalf("Targets of a new table = %v, want nil", got)
	}
	steps := []struct {
		name      string
		do        func() (any, error)
		wantOld   any
		want      any
		wantLen   int
		sameVer   bool
		wantEvent bool
	}{
		{"SetTargets", func() (any, error) { return tb.SetTargets("one"), nil }, nil, "one", 1, true, false},
		{"ReplaceTargets", func() (any, error) { return tb.ReplaceTargets(ab, "two") }, "one", "two", 2, false, true},
		{"Replace keeps them", func() (any, error) { return nil, tb.Replace(a) }, nil, "two", 1, false, true},
		{"Update keeps them", func() (any, error) {
			_, err := tb.Update("a", Event{}, func(r *Route) error { r.Paused = true; return nil })
			return nil, err
		}, nil, "two", 1, false, true},
		{"ReplaceTargets refused", func() (any, error) { return tb.ReplaceTargets(append(a, a[0]), "three") }, nil, "two", 1, true, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ver, changes := tb.Snapshot().Version(), tb.Changes()
			old, err := st.do()
			if (err != nil) != (st.name == "ReplaceTargets refused") {
				t.Fatalf("error = %v", err)
			}
			snap := tb.Snapshot()
			if old != st.wantOld || snap.Targets() != st.want || snap.Len() != st.wantLen {
				t.Errorf("old %v, Targets %v, %d routes; want %v, %v, %d", old, snap.Targets(), snap.Len(), st.wantOld, st.want, st.wantLen)
			}
			if (snap.Version() == ver) != st.sameVer {
				t.Errorf("Version %d -> %d, want the same: %v", ver, snap.Version(), st.sameVer)
			}
			if (tb.Changes() != changes) != st.wantEvent {
				t.Errorf("Changes %d -> %d, want a change: %v", changes, tb.Changes(), st.wantEvent)
			}
		})
	}
}
