//go:build !noevents

package events

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestWorkers(t *testing.T) {
	// Shared by the unbounded and the bounded cases.
	oneAfterAnother := func(w *workers, ran *atomic.Int64, _ func()) {
		for range 5 {
			w.run(func() { ran.Add(1) })
			synctest.Wait()
		}
	}
	idleExits := func(w *workers, ran *atomic.Int64, _ func()) {
		w.run(func() { ran.Add(1) })
		time.Sleep(workerIdle + time.Millisecond)
		synctest.Wait()
		w.run(func() { ran.Add(1) })
		synctest.Wait()
	}
	tests := []struct {
		name  string
		limit int // 0: unbounded
		// run drives w; ran counts the functions that ran.
		run         func(w *workers, ran *atomic.Int64, stop func())
		wantRan     int64
		wantSpawned int64
	}{
		{
			name:    "one after another reuse one goroutine",
			run:     oneAfterAnother,
			wantRan: 5, wantSpawned: 1,
		},
		{
			name: "concurrent ones get a goroutine each, reused after",
			run: func(w *workers, ran *atomic.Int64, stop func()) {
				for range 2 {
					release := make(chan struct{})
					for range 3 {
						w.run(func() { <-release; ran.Add(1) })
					}
					synctest.Wait()
					close(release)
					synctest.Wait()
				}
			},
			wantRan: 6, wantSpawned: 3,
		},
		{
			name:    "an idle goroutine exits",
			run:     idleExits,
			wantRan: 2, wantSpawned: 2,
		},
		{
			name: "bounded: more concurrent ones than the limit wait their turn", limit: 2,
			run: func(w *workers, ran *atomic.Int64, stop func()) {
				release := make(chan struct{})
				for range 5 {
					w.run(func() { <-release; ran.Add(1) })
				}
				synctest.Wait()
				if got := ran.Load(); got != 0 {
					panic("ran before release")
				}
				close(release)
				synctest.Wait()
			},
			wantRan: 5, wantSpawned: 2,
		},
		{
			name: "bounded: one after another reuse one goroutine", limit: 4,
			run:     oneAfterAnother,
			wantRan: 5, wantSpawned: 1,
		},
		{
			name: "bounded: an idle goroutine exits, and a later one starts", limit: 2,
			run:     idleExits,
			wantRan: 2, wantSpawned: 2,
		},
		{
			name: "bounded: queued ones still run after stop", limit: 1,
			run: func(w *workers, ran *atomic.Int64, stop func()) {
				release := make(chan struct{})
				for range 4 {
					w.run(func() { <-release; ran.Add(1) })
				}
				synctest.Wait()
				stop()
				close(release)
				synctest.Wait()
			},
			wantRan: 4, wantSpawned: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				stop := make(chan struct{})
				w := newWorkers(stop)
				if tt.limit > 0 {
					w = newBoundedWorkers(stop, tt.limit, 16)
				}
				var ran atomic.Int64
				var once sync.Once
				closeStop := func() { once.Do(func() { close(stop) }) }
				tt.run(w, &ran, closeStop)
				closeStop()
				w.wait() // returns: every goroutine exits on stop
				if got := ran.Load(); got != tt.wantRan {
					t.Errorf("ran %d functions, want %d", got, tt.wantRan)
				}
				if got := w.spawned.Load(); got != tt.wantSpawned {
					t.Errorf("spawned %d goroutines, want %d", got, tt.wantSpawned)
				}
			})
		})
	}
}
