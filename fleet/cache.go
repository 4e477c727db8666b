package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// The last-known-good cache: every state a node applied, written to one JSON
// file in the state directory, so that a node that starts while NATS cannot
// be reached serves the routes as the fleet last had them (as Envoy, Kong and
// Caddy keep serving their last good configuration) instead of router.toml's
// stages, which a fleet-wide promotion or rollback may have left behind.

// CacheFile is the name of the cache inside the state directory.
const CacheFile = "fleet-routes.json"

const cacheVersion = 1

// maxCacheBytes bounds the cache read at start (about 300 bytes per route).
const maxCacheBytes = 64 << 20

// ErrCorruptCache means the cache could not be read. The file is set aside
// (renamed to CacheFile.corrupt-TIME) and the node starts without it.
var ErrCorruptCache = errors.New("corrupt fleet state cache")

// cache is the file's content.
type cache struct {
	Version int    `json:"version"`
	Node    string `json:"node"`
	// Synced is when the node last knew its state to be the fleet's: the
	// watch was caught up and the connection up.
	Synced time.Time `json:"synced"`
	// Revision is the highest bucket revision applied.
	Revision uint64        `json:"revision"`
	Routes   []cachedRoute `json:"routes"`
}

type cachedRoute struct {
	Key      string     `json:"key"`
	Revision uint64     `json:"revision"`
	State    RouteState `json:"state"`
}

// loadCache reads dir's cache. A missing file is an empty cache; a file that
// does not parse is set aside and reported with ErrCorruptCache.
func loadCache(dir string) (cache, error) {
	path := filepath.Join(dir, CacheFile)
	b, err := readBounded(path, maxCacheBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return cache{}, nil
	}
	if err != nil {
		return cache{}, fmt.Errorf("read %s: %w", path, err)
	}
	var c cache
	err = json.Unmarshal(b, &c)
	if err == nil && c.Version != cacheVersion {
		err = fmt.Errorf("unknown version %d", c.Version)
	}
	if err == nil {
		for _, r := range c.Routes {
			if err = r.State.check(); err != nil {
				break
			}
			if name, kerr := RouteName(r.Key); kerr != nil || name != r.State.Name {
				err = fmt.Errorf("key %q does not name route %q", r.Key, r.State.Name)
				break
			}
		}
	}
	if err != nil {
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().UnixNano())
		if rerr := os.Rename(path, aside); rerr != nil {
			return cache{}, fmt.Errorf("%w: %s: %v (and it could not be set aside: %v)", ErrCorruptCache, path, err, rerr)
		}
		return cache{}, fmt.Errorf("%w: %s: %v; the file was moved to %s and the node starts without it", ErrCorruptCache, path, err, aside)
	}
	return c, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%d bytes, more than %d", fi.Size(), limit)
	}
	return os.ReadFile(path)
}

// saveCache writes c to dir atomically and durably: a temporary file,
// fsynced, renamed over the old one, the directory fsynced.
func saveCache(dir string, c cache) error {
	c.Version = cacheVersion
	sort.Slice(c.Routes, func(i, j int) bool { return c.Routes[i].Key < c.Routes[j].Key })
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode fleet cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".fleet-routes-*.tmp")
	if err != nil {
		return fmt.Errorf("save fleet cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, CacheFile))
	}
	if err != nil {
		return fmt.Errorf("save fleet cache: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save fleet cache: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("save fleet cache: %w", err)
	}
	return nil
}
