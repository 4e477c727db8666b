package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads the TOML file at path and returns it decoded, defaulted and
// validated, with relative paths resolved against the file's directory. On
// any problem it returns a nil Config and an error: a read error, the TOML
// syntax or type error (with its line), or every validation problem joined
// (see Decode). The message of the latter is "load config PATH:" followed by
// one problem per line, ready for `edged validate` to print. Load does not
// read secrets or module contents.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load config %q: %w", path, err)
	}
	c, err := Decode(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("load config %q:\n%w", path, err)
	}
	return c, nil
}

// Decode decodes a router.toml document. Relative paths in it resolve
// against dir ("" means the current directory), which is made absolute and
// stored in Config.Dir; module files are checked to exist there.
//
// Decoding is strict. A TOML syntax error or a value of the wrong type stops
// decoding and is returned alone, with its line. Otherwise every unknown
// key and every validation problem is returned at once as *FieldError values
// joined with errors.Join. The returned Config is non-nil exactly when the
// error is nil.
func Decode(data []byte, dir string) (*Config, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("config dir %q: %w", dir, err)
	}
	// The raw tree tells applyDefaults which keys were written, so that an
	// explicit 0 is kept (and then refused or honoured by validation)
	// rather than silently replaced by the default.
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, err
	}
	c := &Config{Dir: absDir}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return nil, err
	}
	errs := unknownKeys(md, raw)
	applyDefaults(c, definedKeys(raw))
	errs = append(errs, validate(c)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	resolvePaths(c)
	return c, nil
}

// unknownKeys turns MetaData.Undecoded into FieldErrors. Undecoded drops
// array indexes ("routes.zz"), so they are recovered from the raw tree: the
// key is reported once for each [[routes]] entry that has it, which works
// for inline arrays of tables too. Only the outermost unknown key is
// reported: an unknown table's contents are not news.
func unknownKeys(md toml.MetaData, raw map[string]any) []error {
	undecoded := make(map[string]bool)
	for _, k := range md.Undecoded() {
		undecoded[k.String()] = true
	}
	var errs []error
	reported := make(map[string]bool)
	for _, k := range md.Undecoded() {
		if reported[k.String()] || !outermost(k, undecoded) {
			continue
		}
		reported[k.String()] = true
		routes := tables(raw["routes"])
		if k[0] != "routes" || len(k) < 2 || routes == nil {
			errs = append(errs, &FieldError{Path: keyPath(k), Err: ErrUnknownKey})
			continue
		}
		for i, r := range routes {
			if has(r, k[1:]) {
				p := "routes[" + strconv.Itoa(i) + "]." + keyPath(k[1:])
				errs = append(errs, &FieldError{Path: p, Err: ErrUnknownKey})
			}
		}
	}
	return errs
}

// tables returns an array of tables from the raw tree, whether it was
// written as [[x]] headers ([]map[string]any) or inline ([]any).
func tables(v any) []map[string]any {
	switch v := v.(type) {
	case []map[string]any:
		return v
	case []any:
		out := make([]map[string]any, 0, len(v))
		for _, e := range v {
			m, _ := e.(map[string]any)
			out = append(out, m) // nil keeps the indexes right
		}
		return out
	}
	return nil
}

// outermost reports whether no proper prefix of k is undecoded itself.
func outermost(k toml.Key, undecoded map[string]bool) bool {
	for i := 1; i < len(k); i++ {
		if undecoded[k[:i].String()] {
			return false
		}
	}
	return true
}

// has reports whether the raw table m holds the key path k.
func has(m map[string]any, k toml.Key) bool {
	for i, part := range k {
		v, ok := m[part]
		if !ok {
			return false
		}
		if i == len(k)-1 {
			return true
		}
		if m, ok = v.(map[string]any); !ok {
			return false
		}
	}
	return false
}

// keyPath formats a TOML key the way FieldError paths are written.
func keyPath(k toml.Key) string {
	parts := make([]string, len(k))
	for i, part := range k {
		parts[i] = keyPart(part)
	}
	return strings.Join(parts, ".")
}

// keyPart quotes a key piece that is not a TOML bare key, so that a name
// with a dot or a space cannot make a path ambiguous.
func keyPart(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == "" {
		return s
	}
	return strconv.Quote(s)
}

// definedKeys lists every key path written in the file, in FieldError
// format ("server.listen", "routes[2].migration.interval").
func definedKeys(raw map[string]any) map[string]bool {
	set := make(map[string]bool)
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		set[prefix] = true
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(prefix+"."+keyPart(k), e)
			}
		case []map[string]any:
			for i, e := range v {
				walk(prefix+"["+strconv.Itoa(i)+"]", e)
			}
		case []any:
			for i, e := range v {
				walk(prefix+"["+strconv.Itoa(i)+"]", e)
			}
		}
	}
	for k, v := range raw {
		walk(keyPart(k), v)
	}
	return set
}

// resolve makes p absolute against dir; "" stays "" so that an unset path
// stays recognisably unset.
func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// resolvePaths rewrites every path field against c.Dir. It runs after
// validation, so messages quote paths as the user wrote them; because Dir is
// absolute it is idempotent.
func resolvePaths(c *Config) {
	c.Admin.TokenFile = resolve(c.Dir, c.Admin.TokenFile)
	c.Runtime.CacheDir = resolve(c.Dir, c.Runtime.CacheDir)
	c.Runtime.StateDir = resolve(c.Dir, c.Runtime.StateDir)
	for name, f := range c.Functions {
		f.Module = resolve(c.Dir, f.Module)
		c.Functions[name] = f
	}
	if a := c.Auth; a != nil {
		a.APIKeyFile = resolve(c.Dir, a.APIKeyFile)
		a.JWTKeyFile = resolve(c.Dir, a.JWTKeyFile)
		a.JWTSecretFile = resolve(c.Dir, a.JWTSecretFile)
		a.JWKSFile = resolve(c.Dir, a.JWKSFile)
	}
	for name, s := range c.Secrets {
		s.File = resolve(c.Dir, s.File)
		c.Secrets[name] = s
	}
}
