package events

import (
	"context"
	"net/http"
	"testing"
)

// TestTriggersInfo: Info counts what JetStream holds for each trigger:
// deliveries, the event running now (in flight), events waiting behind it
// (pending) and dead letters; Triggers lists every running trigger by name.
func TestTriggersInfo(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), Options{})
	release := make(chan struct{})
	rec := newRecorder(func(c call, _ int) (int, http.Header, error) {
		switch c.typ {
		case "bad":
			return StatusDeadLetter, nil, nil
		case "slow":
			<-release
		}
		return http.StatusOK, nil, nil
	})
	if _, err := s.Subscribe(ctx, Trigger{Name: "b", Subject: "b.in", MaxConcurrency: 1, Dedup: DedupWindow}, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(ctx, Trigger{Name: "a", Subject: "a.in"}, newRecorder(nil)); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"ok", "bad"} {
		if _, err := s.Publish(ctx, "b.in", typ, nil); err != nil {
			t.Fatal(err)
		}
		rec.next(t)
	}
	info := func() Info {
		all, err := s.Triggers(ctx)
		if err != nil || len(all) != 2 || all[0].Trigger != "a" || all[1].Trigger != "b" {
			t.Fatalf("Triggers = %+v, %v; want a and b", all, err)
		}
		if all[0].Dedup != DedupRecord {
			t.Errorf("trigger a: Dedup = %q, want the default %q", all[0].Dedup, DedupRecord)
		}
		return all[1]
	}
	// The dead letter is stored before the original is acknowledged: wait
	// for both, or the ack may still be on its way.
	eventually(t, "one dead letter, acknowledged", func() bool { in := info(); return in.DeadLetters == 1 && in.InFlight == 0 })
	if in := info(); in.Delivered != 2 || in.InFlight != 0 || in.Pending != 0 || in.Stream != "EDGED_b" ||
		in.Consumer != "b" || in.DeadLetter != "b.in.dead" || in.Dedup != DedupWindow {
		t.Errorf("after ok and bad: %+v", in)
	}
	if _, err := s.Publish(ctx, "b.in", "slow", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the slow event in flight", func() bool { return info().InFlight == 1 })
	close(release)
	rec.next(t)
	eventually(t, "nothing in flight", func() bool { in := info(); return in.InFlight == 0 && in.Delivered == 3 })
}
