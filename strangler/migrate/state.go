package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edged/edged/strangler"
)

// Durable migration progress. The stage, weight, step and pause flag of every
// route, and the newest events, are written to one JSON file in the state
// directory after every change: to a temporary file, fsynced, renamed over
// the old one, and the directory fsynced, so that a crash at any moment
// (kill -9 included) leaves either the old or the new file, both loadable.

// StateFile is the name of the state file inside the state directory.
const StateFile = "migrations.json"

// stateVersion is the format version written to the file.
const stateVersion = 1

// maxSavedEvents bounds the events kept in the file.
const maxSavedEvents = 1000

// ErrCorruptState means the state file could not be read as state. Load has
// set the file aside; see ApplyState for what the routes do then.
var ErrCorruptState = errors.New("corrupt migration state")

// State is what survives a restart.
type State struct {
	Version int               `json:"version"`
	Saved   time.Time         `json:"saved"`
	Routes  []RouteState      `json:"routes"`
	Events  []strangler.Event `json:"events"`
}

// RouteState is one route's progress.
type RouteState struct {
	Name   string          `json:"name"`
	Stage  strangler.Stage `json:"stage"`
	Weight int             `json:"weight"`
	Step   int             `json:"step"`
	Paused bool            `json:"paused"`
	// Plan is the strangler.Plan.Hash the progress belongs to ("" for a route without
	// a plan).
	Plan string `json:"plan"`
}

// Store reads and writes the state file. It is safe for concurrent use.
type Store struct {
	dir string
	mu  sync.Mutex
}

// OpenStore opens (creating) the state directory.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Path returns the state file's path.
func (s *Store) Path() string { return filepath.Join(s.dir, StateFile) }

// Load reads the state. A missing file is an empty State. A file that does
// not parse, or has an unknown version, is renamed to StateFile.corrupt-TIME
// and Load returns an empty State and an error matching ErrCorruptState that
// names where the file went.
func (s *Store) Load() (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := os.ReadFile(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("read state: %w", err)
	}
	var st State
	err = json.Unmarshal(b, &st)
	if err == nil && st.Version != stateVersion {
		err = fmt.Errorf("unknown version %d", st.Version)
	}
	if err == nil {
		for _, r := range st.Routes {
			if !r.Stage.Valid() || r.Weight < 0 || r.Weight > 100 {
				err = fmt.Errorf("route %q: invalid stage or weight", r.Name)
				break
			}
		}
	}
	if err != nil {
		aside := fmt.Sprintf("%s.corrupt-%d", s.Path(), time.Now().UnixNano())
		if rerr := os.Rename(s.Path(), aside); rerr != nil {
			return State{}, fmt.Errorf("%w: %v (and it could not be set aside: %v)", ErrCorruptState, err, rerr)
		}
		return State{}, fmt.Errorf("%w: %v; the file was moved to %s", ErrCorruptState, err, aside)
	}
	return st, nil
}

// Save writes st atomically and durably.
func (s *Store) Save(st State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Version = stateVersion
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, ".migrations-*.tmp")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path()); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	// The rename is durable only once the directory entry is.
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// ApplyState merges persisted progress into the routes of a configuration:
// a route whose plan hash matches its saved state takes the saved stage,
// weight, step and pause flag (persisted progress wins over router.toml until
// the route's migration block changes). Routes without a plan keep the
// configured stage.
//
// With corrupt true (the state could not be read), routes with a plan are
// not trusted to router.toml's stage either, which could send users to an
// isolate a rollback had taken them away from: they start in legacy (shadow
// for a plan that starts in shadow, which exposes no user), paused, for a
// person to resume.
func ApplyState(routes []strangler.Route, plans map[string]strangler.Plan, st State, corrupt bool) []strangler.Route {
	saved := make(map[string]RouteState, len(st.Routes))
	for _, rs := range st.Routes {
		saved[rs.Name] = rs
	}
	out := make([]strangler.Route, len(routes))
	for i, r := range routes {
		out[i] = r
		p, hasPlan := plans[r.Name]
		if !hasPlan {
			continue
		}
		if corrupt {
			out[i].Stage, out[i].Weight, out[i].Step, out[i].Paused = strangler.StageLegacy, 0, -1, true
			if p.Start == strangler.StageShadow {
				out[i].Stage = strangler.StageShadow
			}
			continue
		}
		if rs, ok := saved[r.Name]; ok && rs.Plan == p.Hash(r) {
			out[i].Stage, out[i].Weight, out[i].Step, out[i].Paused = rs.Stage, rs.Weight, rs.Step, rs.Paused
		}
	}
	return out
}

// CurrentState reads the table's routes and newest events as a State;
// plans gives the hash each route's progress belongs to.
func CurrentState(t *strangler.Table, plans map[string]strangler.Plan) State {
	st := State{Saved: time.Now()}
	for _, r := range t.Routes() {
		rs := RouteState{Name: r.Name, Stage: r.Stage, Weight: r.Weight, Step: r.Step, Paused: r.Paused}
		if p, ok := plans[r.Name]; ok {
			rs.Plan = p.Hash(r)
		}
		st.Routes = append(st.Routes, rs)
	}
	st.Events = t.LatestEvents(maxSavedEvents)
	return st
}

// Persister saves a table's state after every change. Callers that must not
// answer before a change is durable (the admin API) wait with WaitSaved.
type Persister struct {
	t     *strangler.Table
	s     *Store
	plans func() map[string]strangler.Plan
	onErr func(error)

	mu    sync.Mutex
	saved uint64        // Table.Changes count covered by the last good save
	wake  chan struct{} // closed and replaced after each save
}

// NewPersister returns a persister of t into s. plans is called for the
// current plans at each save; onErr receives save errors (which are retried
// at the next change) and may be nil.
func NewPersister(t *strangler.Table, s *Store, plans func() map[string]strangler.Plan, onErr func(error)) *Persister {
	if onErr == nil {
		onErr = func(error) {}
	}
	return &Persister{t: t, s: s, plans: plans, onErr: onErr, wake: make(chan struct{})}
}

// Run saves after every change until ctx ends, then once more.
func (p *Persister) Run(ctx context.Context) {
	for {
		ch := p.t.Watch()
		p.save()
		select {
		case <-ctx.Done():
			p.save()
			return
		case <-ch:
		}
	}
}

func (p *Persister) save() {
	n := p.t.Changes()
	if err := p.s.Save(CurrentState(p.t, p.plans())); err != nil {
		p.onErr(err)
		return
	}
	p.mu.Lock()
	if n > p.saved {
		p.saved = n
	}
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
}

// WaitSaved blocks until every change made to the table before the call is
// on disk, or ctx ends.
func (p *Persister) WaitSaved(ctx context.Context) error {
	want := p.t.Changes()
	for {
		p.mu.Lock()
		done, wake := p.saved >= want, p.wake
		p.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migration state not saved yet: %w", ctx.Err())
		case <-wake:
		}
	}
}

// Persist runs a Persister of t without waiters until ctx ends: see Persister.
func Persist(ctx context.Context, t *strangler.Table, s *Store, plans func() map[string]strangler.Plan, onErr func(error)) {
	NewPersister(t, s, plans, onErr).Run(ctx)
}
