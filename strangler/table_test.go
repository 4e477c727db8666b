package strangler

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fixedClock returns a Now func that ticks one second per call, for reproducible event times.
func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func newTestTable(t *testing.T, opts Options) *Table {
	t.Helper()
	legacyOnly := okRoute("legacy-only", "/old")
	legacyOnly.Function = ""
	tab, err := NewTableOptions([]Route{okRoute("users", "/users"), okRoute("orders", "/orders"), legacyOnly}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

var errGate = errors.New("gate says no")

func TestUpdate(t *testing.T) {
	tests := []struct {
		name    string
		route   string
		fn      func(r *Route) error
		wantErr error // nil = success
	}{
		{"promote", "users", func(r *Route) error { r.Stage, r.Weight, r.Step = StageCanary, 5, 0; return nil }, nil},
		{"pause", "users", func(r *Route) error { r.Paused = true; return nil }, nil},
		{"unknown route", "nope", func(r *Route) error { return nil }, ErrNotFound},
		{"fn error", "users", func(r *Route) error { r.Weight = 50; return errGate }, errGate},
		{"change path", "users", func(r *Route) error { r.Path = "/other"; return nil }, ErrInvalidRoute},
		{"change upstream", "users", func(r *Route) error { r.Upstream = "x"; return nil }, ErrInvalidRoute},
		{"change methods", "users", func(r *Route) error { r.Methods = []string{"GET"}; return nil }, ErrInvalidRoute},
		{"weight out of range", "users", func(r *Route) error { r.Weight = 101; return nil }, ErrInvalidRoute},
		{"bad stage", "users", func(r *Route) error { r.Stage = 9; return nil }, ErrInvalidRoute},
		{"shadow without function", "legacy-only", func(r *Route) error { r.Stage = StageShadow; return nil }, ErrInvalidRoute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := newTestTable(t, Options{Now: fixedClock()})
			before := tab.Snapshot()
			beforeRoute, _ := before.Route("users")
			beforeCopy := *beforeRoute
			got, err := tab.Update(tc.route, Event{Kind: KindPromote, Actor: "admin:test", Reason: "why"}, tc.fn)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Update(%q) error = %v, want %v", tc.route, err, tc.wantErr)
				}
				if tab.Snapshot() != before || len(tab.Events(0, 0)) != 0 {
					t.Errorf("Update(%q) failed but changed the table (version %d, %d events)",
						tc.route, tab.Snapshot().Version(), len(tab.Events(0, 0)))
				}
				return
			}
			if err != nil {
				t.Fatalf("Update(%q) error = %v, want nil", tc.route, err)
			}
			want := beforeCopy
			_ = tc.fn(&want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("Update(%q) = %+v, want %+v", tc.route, got, want)
			}
			snap := tab.Snapshot()
			if snap.Version() != before.Version()+1 {
				t.Errorf("Version() = %d, want %d", snap.Version(), before.Version()+1)
			}
			if r, _ := snap.Lookup(nil, []byte("/users/1"), []byte("GET")); fmt.Sprint(*r) != fmt.Sprint(want) {
				t.Errorf("Lookup after Update = %+v, want %+v", *r, want)
			}
			if fmt.Sprint(*beforeRoute) != fmt.Sprint(beforeCopy) {
				t.Errorf("old snapshot changed: %+v, want %+v", *beforeRoute, beforeCopy)
			}
			evs := tab.Events(0, 0)
			wantEv := Event{Seq: 1, Time: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), Route: tc.route, Kind: KindPromote,
				From: beforeCopy.Stage, To: want.Stage, Weight: want.Weight, Step: want.Step, Actor: "admin:test", Reason: "why"}
			if len(evs) != 1 || evs[0] != wantEv {
				t.Errorf("Events(0, 0) = %+v, want [%+v]", evs, wantEv)
			}
		})
	}
}

func TestUpdateNoChangeRecordsEvent(t *testing.T) {
	tab := newTestTable(t, Options{})
	before := tab.Snapshot()
	if _, err := tab.Update("users", Event{Kind: KindGateFailed, Actor: ActorController}, func(*Route) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if tab.Snapshot() != before {
		t.Errorf("Update with no change swapped the snapshot (version %d)", tab.Snapshot().Version())
	}
	if evs := tab.Events(0, 0); len(evs) != 1 || evs[0].Kind != KindGateFailed {
		t.Errorf("Events(0, 0) = %+v, want one gate_failed event", evs)
	}
}

func TestUpdateKeepsPointer(t *testing.T) {
	tab := newTestTable(t, Options{})
	var kept *Route
	if _, err := tab.Update("users", Event{}, func(r *Route) error { kept = r; r.Weight = 10; return nil }); err != nil {
		t.Fatal(err)
	}
	kept.Weight = 99 // a misbehaving fn must not reach the stored route
	if r, _ := tab.Route("users"); r.Weight != 10 {
		t.Errorf("Route(users).Weight = %d, want 10", r.Weight)
	}
	if evs := tab.Events(0, 0); len(evs) != 1 || evs[0].Kind != KindUpdate {
		t.Errorf("Events(0, 0) = %+v, want one %q event", evs, KindUpdate)
	}
}

// TestUpdateHammer has readers look routes up continuously while a writer moves a route through states in which
// stage, weight and step belong together; every observed route must be one of those states, and versions must
// never go backwards.
func TestUpdateHammer(t *testing.T) {
	type state struct {
		stage  Stage
		weight int
		step   int
	}
	states := []state{{StageLegacy, 0, -1}, {StageShadow, 0, 0}, {StageCanary, 1, 1}, {StageCanary, 5, 2},
		{StageCanary, 25, 3}, {StageCanary, 50, 4}, {StageIsolate, 100, 5}, {StageRetired, 100, 6}}
	valid := map[state]bool{}
	for _, s := range states {
		valid[s] = true
	}
	tab := newTestTable(t, Options{MaxEvents: 100})
	const writes = 3000
	done := make(chan struct{})
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for n := 0; ; n++ {
				select {
				case <-done:
					if n == 0 {
						errs <- errors.New("reader never ran")
					}
					return
				default:
				}
				snap := tab.Snapshot()
				if v := snap.Version(); v < last {
					errs <- fmt.Errorf("Version() = %d after %d", v, last)
					return
				} else {
					last = v
				}
				r, ok := snap.Lookup([]byte("any.host"), []byte("/users/42"), []byte("GET"))
				if !ok || r.Name != "users" {
					errs <- fmt.Errorf("Lookup(/users/42) = %v, %v, want users", r, ok)
					return
				}
				if s := (state{r.Stage, r.Weight, r.Step}); !valid[s] {
					errs <- fmt.Errorf("observed inconsistent route state %+v", s)
					return
				}
				if cp, _ := tab.Route("users"); !valid[state{cp.Stage, cp.Weight, cp.Step}] {
					errs <- fmt.Errorf("Route(users) inconsistent: %+v", cp)
					return
				}
			}
		}()
	}
	for i := range writes {
		s := states[i%len(states)]
		_, err := tab.Update("users", Event{Kind: KindSetStage, Actor: ActorController}, func(r *Route) error {
			// Written field by field on purpose: readers must still never see a partial write.
			r.Stage = s.stage
			r.Weight = s.weight
			r.Step = s.step
			return nil
		})
		if err != nil {
			t.Fatalf("Update #%d error = %v", i, err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if evs := tab.Events(0, 0); len(evs) != 100 || evs[99].Seq != writes {
		t.Errorf("after %d updates: %d events, last Seq %d; want 100, %d", writes, len(evs), evs[len(evs)-1].Seq, writes)
	}
}

func TestEventsBoundedAndOrdered(t *testing.T) {
	tab := newTestTable(t, Options{MaxEvents: 5, Now: fixedClock()})
	for i := range 12 {
		ev := tab.Record(Event{Route: "users", Kind: KindGateFailed, Reason: fmt.Sprint(i)})
		if ev.Seq != uint64(i+1) || ev.Time.IsZero() {
			t.Fatalf("Record #%d = Seq %d, Time %v; want Seq %d and a time", i, ev.Seq, ev.Time, i+1)
		}
	}
	seqs := func(evs []Event) []uint64 {
		var out []uint64
		for _, e := range evs {
			out = append(out, e.Seq)
		}
		return out
	}
	tests := []struct {
		name  string
		since uint64
		limit int
		want  string
	}{
		{"all kept", 0, 0, "[8 9 10 11 12]"},
		{"since", 9, 0, "[10 11 12]"},
		{"since and limit", 9, 2, "[10 11]"},
		{"since dropped", 2, 3, "[8 9 10]"},
		{"since last", 12, 0, "[]"},
		{"since max", ^uint64(0), 0, "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fmt.Sprint(seqs(tab.Events(tc.since, tc.limit))); got != tc.want {
				t.Errorf("Events(%d, %d) = %s, want %s", tc.since, tc.limit, got, tc.want)
			}
		})
	}
	if got := fmt.Sprint(seqs(tab.LatestEvents(2))); got != "[11 12]" {
		t.Errorf("LatestEvents(2) = %s, want [11 12]", got)
	}
	evs := tab.Events(0, 0)
	for i := 1; i < len(evs); i++ {
		if !evs[i].Time.After(evs[i-1].Time) {
			t.Errorf("event %d time %v not after %v", evs[i].Seq, evs[i].Time, evs[i-1].Time)
		}
	}
}

func TestRestoreEvents(t *testing.T) {
	tab := newTestTable(t, Options{MaxEvents: 4})
	tab.RestoreEvents([]Event{
		{Seq: 7, Kind: "c"}, {Seq: 0, Kind: "new"}, {Seq: 3, Kind: "a"}, {Seq: 5, Kind: "b"}, {Seq: 1, Kind: "dropped"},
	})
	var got []string
	for _, e := range tab.Events(0, 0) {
		got = append(got, fmt.Sprintf("%d:%s", e.Seq, e.Kind))
	}
	if want := "[3:a 5:b 7:c 8:new]"; fmt.Sprint(got) != want {
		t.Errorf("Events after RestoreEvents = %v, want %s", got, want)
	}
	if ev := tab.Record(Event{Kind: "next"}); ev.Seq != 9 {
		t.Errorf("Record after RestoreEvents: Seq = %d, want 9", ev.Seq)
	}
	if n := len(tab.Events(0, 0)); n != 4 {
		t.Errorf("len(Events) = %d, want 4", n)
	}
}

func TestWatch(t *testing.T) {
	tab := newTestTable(t, Options{})
	changes := []struct {
		name string
		do   func() error
	}{
		{"update", func() error {
			_, err := tab.Update("users", Event{}, func(r *Route) error { r.Paused = true; return nil })
			return err
		}},
		{"record", func() error { tab.Record(Event{Kind: "note"}); return nil }},
		{"restore", func() error { tab.RestoreEvents([]Event{{Kind: "old"}}); return nil }},
		{"replace", func() error { return tab.Replace([]Route{okRoute("only", "/")}) }},
	}
	for _, tc := range changes {
		t.Run(tc.name, func(t *testing.T) {
			ch := tab.Watch()
			select {
			case <-ch:
				t.Fatal("Watch() channel closed before any change")
			default:
			}
			if err := tc.do(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ch:
			default:
				t.Errorf("Watch() channel not closed after %s", tc.name)
			}
		})
	}
	t.Run("failed replace", func(t *testing.T) {
		ch := tab.Watch()
		if err := tab.Replace([]Route{{Name: "bad"}}); err == nil {
			t.Fatal("Replace(invalid) = nil, want error")
		}
		select {
		case <-ch:
			t.Error("Watch() channel closed by a failed Replace")
		default:
		}
	})
}

func TestReplace(t *testing.T) {
	tab := newTestTable(t, Options{})
	old := tab.Snapshot()
	if err := tab.Replace([]Route{okRoute("b", "/b"), okRoute("a", "/a")}); err != nil {
		t.Fatal(err)
	}
	snap := tab.Snapshot()
	if snap.Version() != old.Version()+1 {
		t.Errorf("Version() = %d, want %d", snap.Version(), old.Version()+1)
	}
	var names []string
	for _, r := range tab.Routes() {
		names = append(names, r.Name)
	}
	if fmt.Sprint(names) != "[a b]" {
		t.Errorf("Routes() = %v, want [a b]", names)
	}
	if _, ok := tab.Route("users"); ok {
		t.Error("Route(users) found after Replace, want gone")
	}
	if _, err := tab.Update("users", Event{}, func(*Route) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update(users) after Replace error = %v, want ErrNotFound", err)
	}
	if _, ok := old.Route("users"); !ok {
		t.Error("old snapshot lost route users")
	}
	if evs := tab.Events(0, 0); len(evs) != 1 || evs[0].Kind != KindReload || evs[0].Actor != ActorConfig {
		t.Errorf("Events after Replace = %+v, want one reload by config", evs)
	}
	// A failed Replace leaves everything as it was.
	err := tab.Replace([]Route{okRoute("x", "/"), okRoute("x", "y")})
	if !errors.Is(err, ErrInvalidRoute) || tab.Snapshot() != snap {
		t.Errorf("Replace(invalid) = %v (snapshot swapped: %v), want ErrInvalidRoute and no swap", err, tab.Snapshot() != snap)
	}
}

func TestRouteCopiesAreOwned(t *testing.T) {
	r := okRoute("m", "/m")
	r.Methods = []string{"GET"}
	in := []Route{r}
	tab, err := NewTable(in)
	if err != nil {
		t.Fatal(err)
	}
	in[0].Methods[0] = "POST" // the table must have its own copy
	got, _ := tab.Route("m")
	got.Methods[0] = "PUT" // and hand out copies
	if r, ok := tab.Snapshot().Lookup(nil, []byte("/m"), []byte("GET")); !ok || r.Methods[0] != "GET" {
		t.Errorf("Lookup(GET /m) = %+v, %v, want route m with Methods [GET]", r, ok)
	}
}

// BenchmarkUpdate measures one migration step at 10,000 routes: a memdb transaction, an event, and a snapshot that
// reuses the compiled matcher.
func BenchmarkUpdate(b *testing.B) {
	routes, _ := benchRoutes(10000)
	tab, err := NewTable(routes)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	w := 0
	for b.Loop() {
		w = (w + 1) % 101
		if _, err := tab.Update(routes[5000].Name, Event{Kind: KindSetWeight}, func(r *Route) error { r.Weight = w; return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplace measures a configuration reload of 10,000 routes: validation, compile and the memdb rewrite.
func BenchmarkReplace(b *testing.B) {
	routes, _ := benchRoutes(10000)
	tab, err := NewTable(routes)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := tab.Replace(routes); err != nil {
			b.Fatal(err)
		}
	}
}
