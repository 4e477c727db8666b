package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/corpus"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/router"
)

// recorders owns the corpus writers of recording routes (docs/record-replay.md):
// those [routes.record] enables, started at install, and those started on
// demand through the admin API. It implements admin.Recorder.
type recorders struct {
	srv *router.Server
	log *slog.Logger
	cfg func() *config.Config // the installed configuration

	mu sync.Mutex
	on map[string]*recording // by route name
}

type recording struct {
	w          *corpus.Writer
	opts       corpus.WriterOptions
	fromConfig bool // started because [routes.record] enables it
}

var _ admin.Recorder = (*recorders)(nil)

func newRecorders(srv *router.Server, cfg func() *config.Config, log *slog.Logger) *recorders {
	return &recorders{srv: srv, cfg: cfg, log: log, on: make(map[string]*recording)}
}

// apply makes the recordings match cfg after an install: routes whose
// [routes.record] is enabled record (a writer whose settings are unchanged is
// kept), and config-started recordings whose table is gone or disabled stop.
// Recordings started on demand are left alone.
func (rs *recorders) apply(cfg *config.Config) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	want := make(map[string]corpus.WriterOptions)
	for _, r := range cfg.Routes {
		if r.Record != nil && r.Record.Enabled {
			want[r.Name] = rs.writerOptions(r.Record)
		}
	}
	for name, rec := range rs.on {
		if o, ok := want[name]; (!ok && rec.fromConfig) || (ok && !sameWriterOptions(o, rec.opts)) {
			rs.stopLocked(name)
		}
	}
	for name, o := range want {
		if _, ok := rs.on[name]; ok {
			continue
		}
		if _, err := rs.startLocked(name, o, true); err != nil {
			rs.log.Error("cannot record route", "route", name, "err", err)
		}
	}
}

func (rs *recorders) writerOptions(r *config.Record) corpus.WriterOptions {
	o := r.WriterOptions()
	o.Logger = rs.log
	return o
}

func sameWriterOptions(a, b corpus.WriterOptions) bool {
	return a.Path == b.Path && a.Sample == b.Sample && a.MaxBytes == b.MaxBytes &&
		fmt.Sprint(a.Redact) == fmt.Sprint(b.Redact)
}

// StartRecording starts recording route with its [routes.record] settings, or
// the defaults.
func (rs *recorders) StartRecording(_ context.Context, route string) (admin.RecordingState, error) {
	// The configuration is read before rs.mu is taken: a reload holds the
	// daemon's lock while it calls apply, which takes rs.mu.
	r, ok := rs.cfg().RecordFor(route)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rec, ok := rs.on[route]; ok {
		return state(route, rec.w, true), nil
	}
	if !ok {
		return admin.RecordingState{}, fmt.Errorf("no route %q in the configuration", route)
	}
	o := rs.writerOptions(&r)
	o.Truncate = true // a recording started on demand is a corpus of its own
	w, err := rs.startLocked(route, o, false)
	if err != nil {
		return admin.RecordingState{}, err
	}
	return state(route, w, true), nil
}

// StopRecording stops recording route and flushes its file.
func (rs *recorders) StopRecording(ctx context.Context, route string) (admin.RecordingState, error) {
	rs.mu.Lock()
	rec, ok := rs.on[route]
	if ok {
		rs.srv.Record(route, nil)
		delete(rs.on, route)
	}
	rs.mu.Unlock()
	if !ok {
		return admin.RecordingState{Route: route}, nil
	}
	err := rec.w.Close(ctx)
	return state(route, rec.w, false), err
}

func (rs *recorders) startLocked(route string, o corpus.WriterOptions, fromConfig bool) (*corpus.Writer, error) {
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
		return nil, fmt.Errorf("record %s: %w", route, err)
	}
	w, err := corpus.NewWriter(o)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", route, err)
	}
	rs.on[route] = &recording{w: w, opts: o, fromConfig: fromConfig}
	if prev := rs.srv.Record(route, w); prev != nil {
		go func() { _ = prev.Close(context.Background()) }()
	}
	rs.log.Info("recording", "route", route, "path", o.Path, "sample", o.Sample)
	return w, nil
}

// stopLocked stops route's recording; its writer flushes in the background.
func (rs *recorders) stopLocked(route string) {
	rec := rs.on[route]
	delete(rs.on, route)
	rs.srv.Record(route, nil)
	go func() { _ = rec.w.Close(context.Background()) }()
}

// closeAll stops every recording and flushes the files, at shutdown.
func (rs *recorders) closeAll(ctx context.Context) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var errs []error
	for name, rec := range rs.on {
		rs.srv.Record(name, nil)
		errs = append(errs, rec.w.Close(ctx))
		delete(rs.on, name)
	}
	return errors.Join(errs...)
}

func state(route string, w *corpus.Writer, on bool) admin.RecordingState {
	st := w.Stats()
	out := admin.RecordingState{Route: route, Recording: on, Path: w.Path(), Records: st.Records, Dropped: st.Dropped, Bytes: st.Bytes}
	if _, err := os.Stat(w.Path() + ".1"); err == nil {
		out.Rotated = w.Path() + ".1"
	}
	return out
}

// recordFlushTimeout bounds the flush of the corpus files at shutdown.
const recordFlushTimeout = 10 * time.Second

// ReplayFunction returns the options of the function of the route named route,
// as serve would load it (limits, pool, config, env), for `edged replay`:
// secrets are read as `edged dev` reads them, an unavailable one left out with
// a warning on log. The module to run is the caller's.
func ReplayFunction(cfg *config.Config, route string, log *slog.Logger) (isolate.FunctionOptions, error) {
	for _, r := range cfg.Routes {
		if r.Name != route {
			continue
		}
		f, ok := cfg.Functions[r.Function]
		if !ok {
			return isolate.FunctionOptions{}, fmt.Errorf("route %q has no function", route)
		}
		secrets, err := readSecrets(cfg, true, log)
		if err != nil {
			return isolate.FunctionOptions{}, err
		}
		_, o, err := functionOptions(r.Function, f, secrets, log)
		return o, err
	}
	return isolate.FunctionOptions{}, fmt.Errorf("no route %q in the configuration", route)
}
