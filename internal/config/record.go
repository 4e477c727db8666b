package config

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/edged/edged/corpus"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/shadow"
)

// Record is [routes.record]: recording a corpus of the route's traffic for
// replay (docs/record-replay.md).
type Record struct {
	// Enabled records from start (and after each reload) while the route is
	// in shadow or legacy. Default false: the admin API and `edged record`
	// start and stop a recording on demand, with these settings.
	Enabled bool `toml:"enabled"`
	// Sample is the share of requests recorded, in (0, 1]. Default 1.
	Sample float64 `toml:"sample"`
	// MaxBytes bounds the corpus on disk, the file and its one rotated
	// predecessor together. Default "64MiB"; at least "2KiB".
	MaxBytes limits.Size `toml:"max_bytes"`
	// Redact lists what is replaced by "[redacted]" before a record is
	// written: header names, and JSON paths of request and answer bodies
	// (entries starting with "$", the grammar of [routes.shadow] ignore).
	// Authorization, Proxy-Authorization, Cookie and Set-Cookie always are.
	Redact []string `toml:"redact"`
	// Path is the corpus file. Default <runtime.state_dir>/record/<route
	// name>.jsonl; relative paths are resolved against the file's directory.
	Path string `toml:"path"`
}

// Redaction splits Redact into the corpus package's header names and JSON
// paths.
func (r *Record) Redaction() corpus.Redaction {
	var red corpus.Redaction
	for _, s := range r.Redact {
		if strings.HasPrefix(s, "$") {
			red.JSONPaths = append(red.JSONPaths, s)
		} else {
			red.Headers = append(red.Headers, s)
		}
	}
	return red
}

// WriterOptions returns the corpus.WriterOptions of the recording.
func (r *Record) WriterOptions() corpus.WriterOptions {
	return corpus.WriterOptions{Path: r.Path, Sample: r.Sample, MaxBytes: int64(r.MaxBytes), Redact: r.Redaction()}
}

// RecordFor returns the [routes.record] of the route named name: its own, or
// the defaults when it has none (a recording started on demand). ok is false
// for a route that is not in c.
func (c *Config) RecordFor(name string) (rec Record, ok bool) {
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.Name != name {
			continue
		}
		if r.Record != nil {
			return *r.Record, true
		}
		rec = Record{Sample: defaultRecordSample, MaxBytes: defaultRecordMaxBytes}
		rec.Path = defaultRecordPath(c.Runtime.StateDir, name)
		return rec, true
	}
	return Record{}, false
}

// Defaults of [routes.record].
const (
	defaultRecordSample   = 1.0
	defaultRecordMaxBytes = limits.Size(corpus.DefaultMaxBytes)
	minRecordMaxBytes     = 2 * limits.KiB
)

func defaultRecordPath(stateDir, route string) string {
	return filepath.Join(stateDir, "record", route+".jsonl")
}

func validateRecord(p *problems, path string, r *Record) {
	if !(r.Sample > 0 && r.Sample <= 1) {
		p.add(path+".sample", "must be in (0, 1], not %v", r.Sample)
	}
	if r.MaxBytes < minRecordMaxBytes {
		p.add(path+".max_bytes", "must be at least %v", minRecordMaxBytes)
	}
	for i, s := range r.Redact {
		at := path + ".redact[" + strconv.Itoa(i) + "]"
		switch {
		case strings.HasPrefix(s, "$"):
			if err := shadow.ValidatePath(s); err != nil {
				p.add(at, "%v", err)
			}
		case s == "" || !isToken(s):
			p.add(at, "%q is neither a header name nor a JSON path", s)
		}
	}
}
