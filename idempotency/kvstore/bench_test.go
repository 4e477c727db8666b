package kvstore

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edged/edged/idempotency"
)

// BenchmarkStore measures what a store adds to an idempotent request: a first
// execution (Begin of a new key, then Complete with a 512-byte response) and a
// replay (Begin of a completed key), on MemoryStore and on Store over a
// loopback TCP connection to a nats-server (memory storage, file storage,
// file storage with every write fsynced as the events server's default
// sync = "always"), and over an in-process connection (file storage). It reports the median and 99th percentile per operation;
// the Handler's own work is the same for every store and is not included.
func BenchmarkStore(b *testing.B) {
	resp := &idempotency.StoredResponse{StatusCode: 201, Header: []idempotency.StoredHeader{
		{Name: []byte("Content-Type"), Value: []byte("application/json")},
	}, Body: make([]byte, 512)}
	kinds := []struct {
		name string
		open func(b *testing.B) idempotency.Store
	}{
		{"memory", func(*testing.B) idempotency.Store {
			s, _ := idempotency.NewMemoryStore(idempotency.Options{MaxEntries: 1 << 30, MaxStoredBytes: 1 << 40})
			return s
		}},
		{"nats-mem", natsStore(false, false, jetstream.MemoryStorage)},
		{"nats-file", natsStore(false, false, jetstream.FileStorage)},
		{"nats-file-fsync", natsStore(true, false, jetstream.FileStorage)},
		{"nats-file-inproc", natsStore(false, true, jetstream.FileStorage)},
	}
	ctx := context.Background()
	for _, kind := range kinds {
		b.Run(kind.name+"/first", func(b *testing.B) {
			s := kind.open(b)
			key := make([]byte, 0, 32)
			lat := make([]time.Duration, 0, 1<<16)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				key = strconv.AppendInt(append(key[:0], "orders\x00client\x00"...), int64(i), 10)
				i++
				start := time.Now()
				if bg, err := s.Begin(ctx, key, fpA); err != nil || bg.State != idempotency.StateNew {
					b.Fatalf("Begin = %v, %v", bg.State, err)
				}
				if err := s.Complete(ctx, key, resp); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportPercentiles(b, lat)
		})
		b.Run(kind.name+"/replay", func(b *testing.B) {
			s := kind.open(b)
			key := []byte("orders\x00client\x00550e8400-e29b-41d4-a716-446655440000")
			if _, err := s.Begin(ctx, key, fpA); err != nil {
				b.Fatal(err)
			}
			if err := s.Complete(ctx, key, resp); err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, 1<<16)
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if bg, err := s.Begin(ctx, key, fpA); err != nil || bg.State != idempotency.StateReplay {
					b.Fatalf("Begin = %v, %v", bg.State, err)
				}
				lat = append(lat, time.Since(start))
			}
			reportPercentiles(b, lat)
		})
	}
}

// natsStore opens a Store on a fresh nats-server: fsync sets its
// SyncAlways, inProcess connects as the events package does to its embedded
// server (no socket) instead of over loopback TCP.
func natsStore(fsync, inProcess bool, storage jetstream.StorageType) func(b *testing.B) idempotency.Store {
	return func(b *testing.B) idempotency.Store {
		ns := startNATSWith(b, func(o *server.Options) { o.SyncAlways = fsync })
		n := connect(b, ns)
		if inProcess {
			nc, err := nats.Connect("", nats.InProcessServer(ns))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(nc.Close)
			if n.js, err = jetstream.New(nc); err != nil {
				b.Fatal(err)
			}
			n.nc = nc
		}
		return openStore(b, n, Options{Bucket: uniqueBucket(), Storage: storage, MaxBucketBytes: 1 << 30})
	}
}

// reportPercentiles adds the median and 99th percentile of lat to b's result.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
}
