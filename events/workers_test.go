//go:build !noevents

package events

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestWorkers(t *testing.T) {
	tests := []struct {
		name string
		// run drives w; ran counts the functions that ran.
		run         func(w *workers, ran *atomic.Int64)
		wantRan     int64
		wantSpawned int64
	}{
		{
			name: "one after another reuse one goroutine",
			run: func(w *workers, ran *atomic.Int64) {
				for range 5 {
					w.run(func() { ran.Add(1) })
					synctest.Wait()
				}
			},
			wantRan: 5, wantSpawned: 1,
		},
		{
			name: "concurrent ones get a goroutine each, reused after",
			run: func(w *workers, ran *atomic.Int64) {
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
			name: "an idle goroutine exits",
			run: func(w *workers, ran *atomic.Int64) {
				w.run(func() { ran.Add(1) })
				time.Sleep(workerIdle + time.Millisecond)
				synctest.Wait()
				w.run(func() { ran.Add(1) })
				synctest.Wait()
			},
			wantRan: 2, wantSpawned: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				stop := make(chan struct{})
				w := newWorkers(stop)
				var ran atomic.Int64
				tt.run(w, &ran)
				close(stop)
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
