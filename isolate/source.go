package isolate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maxModuleSize bounds a module read from disk or the network.
const maxModuleSize = 64 << 20

// Source says where a module comes from. Exactly one of Path, URL and Bytes is
// set. SHA256 (hex) is required with URL and checked whenever it is given.
type Source struct {
	// Path is a .wasm file on disk.
	Path string
	// URL is an https URL; the module must match SHA256. With a CacheDir the
	// download is kept there under its digest and reused.
	URL string
	// SHA256 is the expected hex digest of the module bytes.
	SHA256 string
	// Bytes is a module already in memory (embedding, tests).
	Bytes []byte
}

func (s Source) String() string {
	switch {
	case s.Path != "":
		return s.Path
	case s.URL != "":
		return s.URL
	default:
		return fmt.Sprintf("<%d bytes>", len(s.Bytes))
	}
}

// read returns the module bytes, verified against s.SHA256.
func (r *Runtime) read(ctx context.Context, s Source) ([]byte, error) {
	n := 0
	for _, set := range []bool{s.Path != "", s.URL != "", s.Bytes != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%w: exactly one of path, url and bytes must be set", ErrBadModule)
	}
	want := strings.ToLower(s.SHA256)
	if want != "" {
		if b, err := hex.DecodeString(want); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("%w: sha256 %q is not 64 hex digits", ErrBadModule, s.SHA256)
		}
	}
	var (
		bin []byte
		err error
	)
	switch {
	case s.Path != "":
		bin, err = readFileCapped(s.Path)
	case s.URL != "":
		if want == "" {
			return nil, fmt.Errorf("%w: %s: a module loaded by URL must be pinned by sha256", ErrBadModule, s.URL)
		}
		if !strings.HasPrefix(s.URL, "https://") && r.opts.HTTPGet == nil {
			return nil, fmt.Errorf("%w: %s: only https URLs are allowed", ErrBadModule, s.URL)
		}
		bin, err = r.fetchModule(ctx, s.URL, want)
	default:
		bin = s.Bytes
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrBadModule, s, err)
	}
	if want != "" {
		sum := sha256.Sum256(bin)
		if got := hex.EncodeToString(sum[:]); got != want {
			return nil, fmt.Errorf("%w: %s: sha256 is %s, want %s", ErrBadModule, s, got, want)
		}
	}
	return bin, nil
}

func readFileCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxModuleSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxModuleSize {
		return nil, fmt.Errorf("larger than %d bytes", maxModuleSize)
	}
	return b, nil
}

// fetchModule downloads url, or reuses the copy cached under its digest. A
// cached copy whose digest does not match is ignored and replaced.
func (r *Runtime) fetchModule(ctx context.Context, url, digest string) ([]byte, error) {
	var cached string
	if r.opts.CacheDir != "" {
		cached = filepath.Join(r.opts.CacheDir, "modules", digest+".wasm")
		if b, err := readFileCapped(cached); err == nil {
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) == digest {
				return b, nil
			}
		}
	}
	get := r.opts.HTTPGet
	if get == nil {
		get = httpsGet
	}
	b, err := get(ctx, url)
	if err != nil {
		return nil, err
	}
	if cached != "" {
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) == digest {
			// Best effort: a cache that cannot be written only costs a refetch.
			_ = writeFileAtomic(cached, b)
		}
	}
	return b, nil
}

func httpsGet(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxModuleSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxModuleSize {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, maxModuleSize)
	}
	return b, nil
}

func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
