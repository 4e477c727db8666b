package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads the TOML file at path and returns it decoded, defaulted and
// validated, with relative paths resolved against the file's directory. On
// any problem it returns a nil Config and an error: a read error, the TOML
// syntax error (with its line), or every problem joined: unknown keys,
// values of the wrong type and validation problems (see Decode). The message of the latter is "load config PATH:" followed by
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
// Decoding is strict. A TOML syntax error stops decoding and is returned
// alone, with its line. Otherwise every unknown key, every value of the
// wrong type (with its line) and every validation problem is returned at
// once as *FieldError values joined with errors.Join: a type error in one
// key does not hide the problems of the others. The returned Config is
// non-nil exactly when the error is nil.
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
	// BurntSushi/toml stops at the first value of the wrong type, so the
	// document is decoded key by key from Primitives: each key's type error
	// is reported and the others still decode.
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(data), &top)
	if err != nil {
		return nil, err
	}
	c := &Config{Dir: absDir}
	d := decoder{md: &md, order: make(map[string]int)}
	for i, k := range md.Keys() {
		// A table's position is that of its first key in the file.
		for j := 1; j <= len(k); j++ {
			if _, seen := d.order[k[:j].String()]; !seen {
				d.order[k[:j].String()] = i
			}
		}
	}
	d.table(top, reflect.ValueOf(c).Elem(), "", nil)
	applyDefaults(c, definedKeys(raw))
	errs := d.errs
	for _, e := range validate(c) {
		// A key that did not decode is left zero; validation would only
		// report it again as a second, misleading problem.
		if !d.covers(e) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	resolvePaths(c)
	return c, nil
}

// decoder decodes Primitives into Config's structs one key at a time,
// collecting an *FieldError for each unknown key and each type error.
type decoder struct {
	md    *toml.MetaData
	order map[string]int // key (without array indexes) -> first position in the file
	errs  []error
	bad   []string // paths of keys that did not decode
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// nested reports whether t is a table the decoder walks key by key: a
// struct that does not decode itself from text.
func nested(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshaler)
}

func (d *decoder) fail(path string, err error) {
	d.errs = append(d.errs, &FieldError{Path: path, Err: err})
	d.bad = append(d.bad, path)
}

// covers reports whether e is about a key that failed to decode, or about
// something inside it.
func (d *decoder) covers(e error) bool {
	var fe *FieldError
	if !errors.As(e, &fe) {
		return false
	}
	for _, b := range d.bad {
		if fe.Path == b || strings.HasPrefix(fe.Path, b+".") || strings.HasPrefix(fe.Path, b+"[") {
			return true
		}
	}
	return false
}

// table decodes the keys of one TOML table into the struct rv, in file
// order so that problems are listed as they appear; path is the table's key
// path ("" at the top), key the same without array indexes.
func (d *decoder) table(keys map[string]toml.Primitive, rv reflect.Value, path string, key toml.Key) {
	fields := make(map[string]int, rv.NumField())
	for i := range rv.NumField() {
		if tag, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("toml"), ","); tag != "" && tag != "-" {
			fields[tag] = i
		}
	}
	names := sortedKeys(keys)
	pos := func(k string) int { return d.order[append(key[:len(key):len(key)], k).String()] }
	slices.SortStableFunc(names, func(a, b string) int { return pos(a) - pos(b) })
	for _, k := range names {
		p := keyPart(k)
		if path != "" {
			p = path + "." + p
		}
		i, ok := fields[k]
		if !ok {
			d.errs = append(d.errs, &FieldError{Path: p, Err: ErrUnknownKey})
			continue
		}
		d.value(keys[k], rv.Field(i), p, append(key[:len(key):len(key)], k))
	}
}

// value decodes one key into v: tables and arrays of tables key by key,
// anything else (numbers, strings, durations, sizes, lists and maps of
// them) in one go.
func (d *decoder) value(prim toml.Primitive, v reflect.Value, path string, key toml.Key) {
	t := v.Type()
	switch {
	case nested(t):
		d.sub(prim, v, path, key)
	case t.Kind() == reflect.Pointer && nested(t.Elem()):
		e := reflect.New(t.Elem())
		if d.sub(prim, e.Elem(), path, key) {
			v.Set(e)
		}
	case t.Kind() == reflect.Slice && nested(t.Elem()):
		var list []toml.Primitive
		if err := d.md.PrimitiveDecode(prim, &list); err != nil {
			d.fail(path, errors.New("must be an array of tables"))
			return
		}
		s := reflect.MakeSlice(t, len(list), len(list))
		for i, e := range list {
			d.sub(e, s.Index(i), path+"["+strconv.Itoa(i)+"]", key)
		}
		v.Set(s)
	case t.Kind() == reflect.Map && nested(t.Elem()):
		m, ok := d.keys(prim, path)
		if !ok {
			return
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for _, name := range sortedKeys(m) {
			e := reflect.New(t.Elem()).Elem()
			d.sub(m[name], e, path+"."+keyPart(name), append(key[:len(key):len(key)], name))
			out.SetMapIndex(reflect.ValueOf(name), e)
		}
		v.Set(out)
	default:
		if err := d.md.PrimitiveDecode(prim, v.Addr().Interface()); err != nil {
			d.fail(path, typeError(err))
		}
	}
}

// sub decodes a table into the struct v; false if prim is not a table.
func (d *decoder) sub(prim toml.Primitive, v reflect.Value, path string, key toml.Key) bool {
	keys, ok := d.keys(prim, path)
	if ok {
		d.table(keys, v, path, key)
	}
	return ok
}

// keys splits a table into its keys; false (reported) if prim is not a
// table. BurntSushi/toml decodes a number into a map as an empty map, so the
// kind is checked first.
func (d *decoder) keys(prim toml.Primitive, path string) (map[string]toml.Primitive, bool) {
	var v any
	var keys map[string]toml.Primitive
	if err := d.md.PrimitiveDecode(prim, &v); err == nil {
		if _, ok := v.(map[string]any); ok && d.md.PrimitiveDecode(prim, &keys) == nil {
			return keys, true
		}
	}
	d.fail(path, errors.New("must be a table"))
	return nil, false
}

// typeError rewrites BurntSushi/toml's message, "toml: line 6 (last key
// "a.b"): incompatible types: ...", as "line 6: incompatible types: ...":
// the FieldError already names the key.
func typeError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
	}
	msg := strings.TrimPrefix(err.Error(), "toml: ")
	if i := strings.Index(msg, " (last key "); i >= 0 {
		if j := strings.Index(msg[i:], "): "); j >= 0 {
			msg = msg[:i] + ": " + msg[i+j+3:]
		}
	} else if strings.HasPrefix(msg, "(last key ") {
		if j := strings.Index(msg, "): "); j >= 0 {
			msg = msg[j+3:]
		}
	}
	return errors.New(msg)
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
	if e := c.Events; e != nil {
		e.StoreDir = resolve(c.Dir, e.StoreDir)
	}
	for i := range c.Routes {
		if rec := c.Routes[i].Record; rec != nil {
			if rec.Path == "" {
				rec.Path = defaultRecordPath(c.Runtime.StateDir, c.Routes[i].Name)
			} else {
				rec.Path = resolve(c.Dir, rec.Path)
			}
		}
	}
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

// LoadAdmin reads only the [admin] table of the file at path, with its
// defaults and TokenFile resolved against the file's directory, for the
// CLI's client commands: they need the admin address and token, and a
// problem elsewhere in the file (a typo in a route, a value of the wrong
// type) must not stop them. Unknown keys are ignored, in [admin] too. It
// returns an error when the file cannot be read or parsed as TOML, when a
// key of [admin] has the wrong type, or when token_file is not set. The
// result is not validated further (an unusable listen address shows as a
// connection error).
func LoadAdmin(path string) (Admin, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Admin{}, fmt.Errorf("load config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Admin{}, fmt.Errorf("load config %q: %w", path, err)
	}
	var doc struct {
		Admin toml.Primitive `toml:"admin"`
	}
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		return Admin{}, fmt.Errorf("load config %q: %w", path, err)
	}
	var a Admin
	if md.IsDefined("admin") {
		d := decoder{md: &md, order: map[string]int{}}
		d.value(doc.Admin, reflect.ValueOf(&a).Elem(), "admin", toml.Key{"admin"})
		var errs []error
		for _, e := range d.errs {
			if !errors.Is(e, ErrUnknownKey) {
				errs = append(errs, e)
			}
		}
		if len(errs) > 0 {
			return Admin{}, fmt.Errorf("load config %q:\n%w", path, errors.Join(errs...))
		}
	}
	if !md.IsDefined("admin", "listen") {
		a.Listen = defaultAdminListen
	}
	if a.TokenFile == "" {
		return Admin{}, fmt.Errorf("load config %q: admin.token_file is not set", path)
	}
	a.TokenFile = resolve(filepath.Dir(abs), a.TokenFile)
	return a, nil
}
