package limits

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for Policy fields left at zero.
const (
	DefaultTimeout         = 1 * time.Second
	DefaultMemory          = 64 * MiB
	DefaultMaxRequestBody  = 1 * MiB
	DefaultMaxResponseBody = 1 * MiB
	DefaultMaxLogBytes     = 64 * KiB
)

// WasmPageSize is the size of one WebAssembly linear-memory page.
const WasmPageSize = 64 * KiB

// MaxMemory is the most memory a wasm32 module can address: 65536 pages.
const MaxMemory = 4 * GiB

// Policy holds every limit of one function. It is a plain value: copy it
// freely. The zero value of every field means "use the default" given on the
// field; WithDefaults makes the defaults explicit and Validate checks the
// result.
type Policy struct {
	// Timeout is the wall-clock deadline of one invocation. Default 1s.
	Timeout time.Duration

	// Memory caps the guest's linear memory. It is rounded down to whole
	// 64KiB wasm pages (see MemoryPages); it must be at least one page and
	// at most 4GiB. Default 64MiB.
	Memory Size

	// MaxRequestBody caps the request body handed to the guest. Default 1MiB.
	MaxRequestBody Size

	// MaxResponseBody caps the response body the guest may write. Default 1MiB.
	MaxResponseBody Size

	// MaxLogBytes caps the output one invocation may produce: stdout, stderr
	// and log calls together (see CappedBuffer). Default 64KiB.
	MaxLogBytes Size

	// Egress is the outbound-network policy; its zero value denies all.
	Egress Egress
}

// WithDefaults returns p with every zero field, including those of Egress,
// replaced by its default. Negative values are kept for Validate to report.
func (p Policy) WithDefaults() Policy {
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.Memory == 0 {
		p.Memory = DefaultMemory
	}
	if p.MaxRequestBody == 0 {
		p.MaxRequestBody = DefaultMaxRequestBody
	}
	if p.MaxResponseBody == 0 {
		p.MaxResponseBody = DefaultMaxResponseBody
	}
	if p.MaxLogBytes == 0 {
		p.MaxLogBytes = DefaultMaxLogBytes
	}
	p.Egress = p.Egress.WithDefaults()
	return p
}

// Validate checks p after applying WithDefaults, so zero fields are fine,
// and returns nil or the errors.Join of every problem. Each problem is
// prefixed with its router.toml key, e.g. "timeout: must be > 0", so a
// config loader can prepend the table path ("functions.hello.").
func (p Policy) Validate() error {
	p = p.WithDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if p.Timeout < 0 {
		bad("timeout", "must be > 0")
	}
	switch {
	case p.Memory < WasmPageSize:
		bad("memory", "must be at least %s (one wasm page), got %s", WasmPageSize, p.Memory)
	case p.Memory > MaxMemory:
		bad("memory", "must be at most %s (wasm32 limit), got %s", Size(MaxMemory), p.Memory)
	}
	for _, f := range []struct {
		key string
		v   Size
	}{
		{"max_request_body", p.MaxRequestBody},
		{"max_response_body", p.MaxResponseBody},
		{"max_log_bytes", p.MaxLogBytes},
		{"max_subrequest_body", p.Egress.MaxSubrequestBody},
	} {
		if f.v < 0 {
			bad(f.key, "must be > 0")
		}
	}
	if p.Egress.MaxSubrequests < 0 {
		bad("max_subrequests", "must be >= 0")
	}
	if p.Egress.SubrequestTimeout < 0 {
		bad("subrequest_timeout", "must be > 0")
	}
	for i, pat := range p.Egress.Allow {
		if pat.IsZero() {
			bad(fmt.Sprintf("allowed_hosts[%d]", i), "empty pattern")
		}
	}
	return errors.Join(errs...)
}

// MemoryPages returns the memory cap in 64KiB wasm pages, after defaults and
// rounded down; it is capped at 65536. A Policy that fails Validate may give 0.
func (p Policy) MemoryPages() uint32 {
	m := p.WithDefaults().Memory
	if m <= 0 {
		return 0
	}
	if m > MaxMemory {
		m = MaxMemory
	}
	return uint32(m / WasmPageSize)
}
