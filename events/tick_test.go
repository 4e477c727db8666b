package events

import (
	"context"
	"testing"
	"time"
)

// TestScheduleOncePerTickAcrossRestart runs two schedulers of one trigger
// (two nodes), restarts the server across two missed ticks, and checks that
// each tick is delivered once and only the latest missed tick is caught up.
func TestScheduleOncePerTickAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 1, 10, 0, 30, 0, time.UTC)
	clock := newFakeClock(t0)
	opts := Options{Now: clock.Now, after: clock.After}
	minute := func(m int) time.Time { return time.Date(2026, 1, 1, 10, m, 0, 0, time.UTC) }
	trig := Trigger{Name: "every-minute", Schedule: "* * * * *"}
	rec := newRecorder(nil)
	expect := func(m int) {
		t.Helper()
		c := rec.next(t)
		if want := minute(m).Format(time.RFC3339Nano); c.id != want || c.typ != TickType || c.source != "edged/schedule/every-minute" {
			t.Fatalf("tick = %+v, want id %s", c, want)
		}
	}

	s, err := Open(ctx, Options{StoreDir: dir, Now: opts.Now, after: opts.after})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Subscribe(ctx, trig, rec); err != nil {
			t.Fatal(err)
		}
	}
	clock.awaitWaiters(t, 2, minute(1))
	clock.Advance(minute(1))
	expect(1)
	// Both schedulers fired 10:01 before they wait for 10:02, and delivery
	// is in stream order: a second 10:01 would arrive before 10:02.
	clock.awaitWaiters(t, 2, minute(2))
	clock.Advance(minute(2))
	expect(2)
	clock.awaitWaiters(t, 2, minute(3))
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Down over 10:03 and 10:04: the latest missed tick fires once at start.
	clock.Advance(minute(4).Add(30 * time.Second))
	s2 := openTest(t, dir, Options{Now: opts.Now, after: opts.after})
	if _, err := s2.Subscribe(ctx, trig, rec); err != nil {
		t.Fatal(err)
	}
	expect(4)
	clock.awaitWaiters(t, 1, minute(5))
	clock.Advance(minute(5))
	expect(5)
	select {
	case c := <-rec.ch:
		t.Errorf("extra tick %+v", c)
	default:
	}
}

// TestScheduleRealClock fires an @every 1s schedule on the real clock.
func TestScheduleRealClock(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	rec := newRecorder(nil)
	if _, err := s.Subscribe(context.Background(), Trigger{Name: "sec", Schedule: "@every 1s"}, rec); err != nil {
		t.Fatal(err)
	}
	a, b := rec.next(t), rec.next(t)
	ta, _ := time.Parse(time.RFC3339Nano, a.id)
	tb, _ := time.Parse(time.RFC3339Nano, b.id)
	if tb.Sub(ta) != time.Second || ta.Nanosecond() != 0 {
		t.Errorf("ticks %s, %s: want consecutive whole seconds", a.id, b.id)
	}
}
