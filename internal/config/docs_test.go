package config

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/edged/edged/internal/otlp"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/limits/fleetrate"
	"github.com/edged/edged/router"
)

// docTable is one TOML table of router.toml as the reference names it in a
// heading ("[server]", "[upstreams.NAME]", "[[routes]]", "[routes.shadow]"),
// with the keys its struct decodes.
type docTable struct {
	heading string
	keys    []string
}

// configTables walks Config's toml tags the way the decoder does (nested
// reports which types it walks key by key) and returns every table with its
// keys: a struct field is a table, a map of structs is [NAME.NAME], a slice
// of structs is [[NAME]], and anything else (values, lists, maps of strings)
// is a key.
func configTables() []docTable {
	var out []docTable
	var walk func(t reflect.Type, heading, prefix string)
	walk = func(t reflect.Type, heading, prefix string) {
		tab := docTable{heading: heading}
		var subs []func()
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case nested(ft):
				subs = append(subs, func() { walk(ft, "["+prefix+tag+"]", prefix+tag+".") })
			case ft.Kind() == reflect.Map && nested(ft.Elem()):
				subs = append(subs, func() { walk(ft.Elem(), "["+prefix+tag+".NAME]", prefix+tag+".NAME.") })
			case ft.Kind() == reflect.Slice && nested(ft.Elem()):
				subs = append(subs, func() { walk(ft.Elem(), "[["+prefix+tag+"]]", prefix+tag+".") })
			default:
				tab.keys = append(tab.keys, tag)
			}
		}
		if heading != "" {
			out = append(out, tab)
		}
		for _, s := range subs {
			s()
		}
	}
	walk(reflect.TypeFor[Config](), "", "")
	return out
}

// docSections splits a Markdown file into its sections: each heading line
// with the text up to the next heading.
func docSections(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sections := make(map[string]string)
	var heading string
	var body strings.Builder
	flush := func() {
		if heading != "" {
			sections[heading] = body.String()
		}
		body.Reset()
	}
	inFence := false
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(line, "#") {
			flush()
			heading = strings.TrimSpace(line)
			continue
		}
		body.WriteString(line)
	}
	flush()
	return sections
}

// undocumented lists, as "TABLE KEY", every key of Config that the
// reference's sections do not document: each table needs exactly one heading
// naming it in backquotes (such as "## `[routes.shadow]` — ..."), and each of
// its keys a table row "| `key` | ..." in the text under that heading.
func undocumented(sections map[string]string) []string {
	var missing []string
	for _, tab := range configTables() {
		var body string
		found := 0
		for h, b := range sections {
			if strings.Contains(h, "`"+tab.heading+"`") {
				body, found = b, found+1
			}
		}
		if found != 1 {
			missing = append(missing, fmt.Sprintf("%s (%d headings name it, want 1)", tab.heading, found))
			continue
		}
		for _, k := range tab.keys {
			if !strings.Contains(body, "| `"+k+"` |") {
				missing = append(missing, tab.heading+" "+k)
			}
		}
	}
	return missing
}

// TestConfigDocumented fails when a key the decoder knows is missing from
// docs/configuration.md.
func TestConfigDocumented(t *testing.T) {
	if n := len(configTables()); n < 14 {
		t.Fatalf("found only %d tables in Config; the walk is broken", n)
	}
	for _, m := range undocumented(docSections(t, "../../docs/configuration.md")) {
		t.Errorf("docs/configuration.md does not document %s", m)
	}
}

// TestConfigDocumentedCatchesMissingKey checks that the test above can fail:
// a reference without one key's row, or without a table's heading, is caught.
func TestConfigDocumentedCatchesMissingKey(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, tc := range []struct{ name, drop, want string }{
		{"key", "| `drain_delay` |", "[server] drain_delay"},
		{"heading", "## `[routes.rate_limit]`", "[routes.rate_limit] (0 headings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(doc, tc.drop) {
				t.Fatalf("docs/configuration.md has no %q to drop", tc.drop)
			}
			path := filepath.Join(t.TempDir(), "configuration.md")
			if err := os.WriteFile(path, []byte(strings.Replace(doc, tc.drop, "| dropped |", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			missing := undocumented(docSections(t, path))
			if !slices.ContainsFunc(missing, func(m string) bool { return strings.HasPrefix(m, tc.want) }) {
				t.Errorf("dropping %q: undocumented = %q, want an entry starting %q", tc.drop, missing, tc.want)
			}
		})
	}
}

// commentedTOML matches a commented-out line of router.toml that is TOML: a
// table header or a key assignment, such as "# [pricing]" or
// "#   auth = \"required\"".
var commentedTOML = regexp.MustCompile(`^\s*#\s*((\[\[?[a-z_.]+\]\]?)|([a-z_]+\s*=.*))$`)

// uncomment turns router.toml's commented-out examples back into TOML, so
// that the keys the example only suggests are checked too.
func uncomment(t *testing.T, data []byte) string {
	t.Helper()
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := sc.Text()
		if m := commentedTOML.FindStringSubmatch(line); m != nil {
			line = m[1]
		}
		b.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestConfigShippedKeys decodes the shipped router.toml, and the same file
// with its commented-out examples uncommented, and fails on any key the
// config structs do not know: the example must never suggest a key that
// edged would refuse. (Other problems of the uncommented file, such as an
// auth = "required" without an [auth] table, are not this test's business.)
func TestConfigShippedKeys(t *testing.T) {
	data, err := os.ReadFile("../../router.toml")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("as shipped", func(t *testing.T) {
		if _, err := Decode(data, "../.."); err != nil {
			t.Fatalf("router.toml does not decode: %v", err)
		}
	})
	t.Run("uncommented", func(t *testing.T) {
		doc := uncomment(t, data)
		if doc == string(data) {
			t.Fatal("router.toml has no commented-out examples; the pattern is broken")
		}
		_, err := Decode([]byte(doc), "../..")
		for _, e := range unjoin(err) {
			if errors.Is(e, ErrUnknownKey) {
				t.Errorf("router.toml suggests a key edged does not know: %v", e)
			}
			var fe *FieldError
			if !errors.As(e, &fe) {
				t.Errorf("router.toml's commented examples do not parse as TOML: %v", e)
			}
		}
	})
	t.Run("catches an unknown key", func(t *testing.T) {
		// The last [[routes]] gets a misspelt key, commented out.
		doc := uncomment(t, append(data, "\n# mirror_unsafe_typo = true\n"...))
		_, err := Decode([]byte(doc), "../..")
		if !errors.Is(err, ErrUnknownKey) {
			t.Errorf("a misspelt commented key went unnoticed: %v", err)
		}
	})
}

// unjoin returns the errors joined in err (errors.Join), or err alone.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// mdLink matches a Markdown link's target: "](target)".
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// anchor is GitHub's anchor for a heading: lower case, every character but
// letters, digits, spaces, '-' and '_' dropped, spaces turned into '-'.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(strings.TrimLeft(heading, "#"))) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors lists the anchors of a Markdown file's headings.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	out := make(map[string]bool)
	for h := range docSections(t, path) {
		out[anchor(h)] = true
	}
	return out
}

// TestDocLinks fails when a relative link in README.md or docs/*.md points
// at a file that does not exist, or at a heading the target does not have.
func TestDocLinks(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), path)
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: link %q: %v", file, target, err)
					continue
				}
			}
			if frag != "" && strings.HasSuffix(dest, ".md") && !anchors(t, dest)[frag] {
				t.Errorf("%s: link %q: %s has no heading with anchor #%s", file, target, dest, frag)
			}
		}
	}
}

// docDefaults reads the reference's default column: for each table heading,
// the keys whose default cell starts with a literal TOML value in
// backquotes ("`\"30s\"` (`router.DefaultServerReadTimeout`)" gives
// "\"30s\""). Cells that are prose ("required", "—", "every algorithm with a
// key") are left out.
func docDefaults(t *testing.T) map[string]map[string]string {
	t.Helper()
	out := make(map[string]map[string]string)
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| `([^`]+)`")
	for h, body := range docSections(t, "../../docs/configuration.md") {
		for _, tab := range configTables() {
			if !strings.Contains(h, "`"+tab.heading+"`") {
				continue
			}
			out[tab.heading] = make(map[string]string)
			for line := range strings.Lines(body) {
				if m := row.FindStringSubmatch(line); m != nil {
					out[tab.heading][m[1]] = m[2]
				}
			}
		}
	}
	return out
}

// TestConfigDocumentedDefaults checks the reference's default column
// against the decoder: a file that writes a key with the default the
// reference states must decode to the same Config as one that leaves it
// out. So a default changed in code, and not in docs/configuration.md,
// fails here.
func TestConfigDocumentedDefaults(t *testing.T) {
	// One file with every table; each table's keys as written (key -> TOML
	// value), in the order the file needs them.
	type table struct {
		header string
		keys   [][2]string
	}
	base := []table{
		{"[server]", nil},
		{"[admin]", [][2]string{{"token_file", `"admin.token"`}}},
		{"[runtime]", nil},
		{"[auth]", [][2]string{{"api_key_file", `"keys.txt"`}}},
		{"[pricing]", nil},
		{"[tracing]", nil},
		{"[upstreams.NAME]", [][2]string{{"url", `"http://127.0.0.1:9000"`}}},
		// allowed_hosts is set so that max_subrequests has its documented
		// default of 8.
		{"[functions.NAME]", [][2]string{{"module", `"examples/guests/hello-c/hello-c.wasm"`}, {"allowed_hosts", `["https://api.example.com"]`}}},
		{"[secrets.NAME]", [][2]string{{"env", `"EDGED_TEST_SECRET"`}}},
		{"[[routes]]", [][2]string{{"name", `"r"`}, {"path", `"/r"`}, {"stage", `"canary"`}, {"upstream", `"NAME"`}, {"function", `"NAME"`}}},
		{"[routes.shadow]", nil},
		{"[routes.migration]", [][2]string{{"steps", "[5, 50]"}}},
		{"[routes.rate_limit]", [][2]string{{"rate", `"10/s"`}}},
		{"[routes.idempotency]", nil},
	}
	render := func(tables []table) []byte {
		var b strings.Builder
		for _, tab := range tables {
			b.WriteString(tab.header + "\n")
			for _, kv := range tab.keys {
				b.WriteString(kv[0] + " = " + kv[1] + "\n")
			}
		}
		return []byte(b.String())
	}
	// with returns base with key set to value in the table (or left out
	// when value is "").
	with := func(header, key, value string) []table {
		out := make([]table, len(base))
		for i, tab := range base {
			out[i] = table{header: tab.header}
			for _, kv := range tab.keys {
				if tab.header != header || kv[0] != key {
					out[i].keys = append(out[i].keys, kv)
				}
			}
			if tab.header == header && value != "" {
				out[i].keys = append(out[i].keys, [2]string{key, value})
			}
		}
		return out
	}
	decode := func(tables []table) (*Config, error) {
		return Decode(render(tables), "../..")
	}
	if _, err := decode(base); err != nil {
		t.Fatalf("the base file does not decode: %v\n%s", err, render(base))
	}
	defaults := docDefaults(t)
	checked := 0
	for _, tab := range base {
		keys := defaults[tab.header]
		if len(keys) == 0 && tab.header != "[secrets.NAME]" { // both of its keys are "one of"
			t.Errorf("docs/configuration.md states no literal default under %s", tab.header)
		}
		for _, key := range sortedKeys(keys) {
			def := keys[key]
			t.Run(tab.header+"."+key, func(t *testing.T) {
				omitted, err := decode(with(tab.header, key, ""))
				if err != nil {
					t.Fatalf("without %s: %v", key, err)
				}
				written, err := decode(with(tab.header, key, def))
				if err != nil {
					t.Fatalf("%s = %s (the documented default) does not decode: %v", key, def, err)
				}
				// An empty list or table written out is the same as none.
				nilEmpty(reflect.ValueOf(omitted).Elem())
				nilEmpty(reflect.ValueOf(written).Elem())
				if !reflect.DeepEqual(omitted, written) {
					t.Errorf("docs/configuration.md says %s %s defaults to %s, but writing that changes the Config", tab.header, key, def)
				}
			})
			checked++
		}
	}
	if checked < 80 {
		t.Errorf("checked only %d documented defaults; the reference's default column was not read", checked)
	}
}

// nilEmpty sets every empty slice and map reachable from v to nil, in place.
func nilEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			nilEmpty(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				nilEmpty(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		for i := range v.Len() {
			nilEmpty(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		// Map elements are not addressable: normalise copies and put them back.
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			nilEmpty(e)
			v.SetMapIndex(k, e)
		}
	}
}

// namedDefaults are the exported Default* values docs/configuration.md
// names, by the name it uses. A constant renamed or moved breaks this map at
// compile time, so the reference cannot go on naming one that is gone.
var namedDefaults = map[string]any{
	"router.DefaultServerReadTimeout":   router.DefaultServerReadTimeout,
	"router.DefaultServerWriteTimeout":  router.DefaultServerWriteTimeout,
	"router.DefaultServerIdleTimeout":   router.DefaultServerIdleTimeout,
	"router.DefaultMaxRequestBody":      router.DefaultMaxRequestBody,
	"router.DefaultMaxHeaderSize":       router.DefaultMaxHeaderSize,
	"router.DefaultShadowMaxConcurrent": router.DefaultShadowMaxConcurrent,
	"router.DefaultShadowMaxBody":       router.DefaultShadowMaxBody,
	"router.DefaultNoiseSample":         router.DefaultNoiseSample,
	"limits.DefaultTimeout":             limits.DefaultTimeout,
	"limits.DefaultMemory":              limits.DefaultMemory,
	"limits.DefaultMaxRequestBody":      limits.DefaultMaxRequestBody,
	"limits.DefaultMaxResponseBody":     limits.DefaultMaxResponseBody,
	"limits.DefaultMaxLogBytes":         limits.DefaultMaxLogBytes,
	"limits.DefaultMaxSubrequests":      limits.DefaultMaxSubrequests,
	"limits.DefaultSubrequestTimeout":   limits.DefaultSubrequestTimeout,
	"limits.DefaultMaxSubrequestBody":   limits.DefaultMaxSubrequestBody,
	"limits.DefaultMaxKeys":             limits.DefaultMaxKeys,
	"fleetrate.DefaultSyncInterval":     fleetrate.DefaultSyncInterval,
	"otlp.DefaultServiceName":           otlp.DefaultServiceName,
	"otlp.DefaultTimeout":               otlp.DefaultTimeout,
}

// TestConfigDocumentedDefaultNames checks every "(`pkg.DefaultX`)" the
// reference names in its default column: the constant exists (namedDefaults)
// and has the value the cell states.
func TestConfigDocumentedDefaultNames(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	cell := regexp.MustCompile("^\\| `([a-z_]+)` \\| `([^`]+)`[^|]*\\(`([a-z]+\\.Default[A-Za-z]+)`\\)")
	named := 0
	for line := range strings.Lines(string(data)) {
		m := cell.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key, doc, name := m[1], m[2], m[3]
		named++
		v, ok := namedDefaults[name]
		if !ok {
			t.Errorf("%s: docs/configuration.md names %s, which namedDefaults does not list", key, name)
			continue
		}
		unq := strings.Trim(doc, `"`)
		var same bool
		switch v := v.(type) {
		case time.Duration:
			d, err := time.ParseDuration(unq)
			same = err == nil && d == v
		case limits.Size:
			s, err := limits.ParseSize(unq)
			same = err == nil && s == v
		case int:
			if s, err := limits.ParseSize(unq); err == nil && strings.HasPrefix(doc, `"`) {
				same = int64(s) == int64(v)
			} else {
				same = unq == strconv.Itoa(v)
			}
		case float64:
			f, err := strconv.ParseFloat(unq, 64)
			same = err == nil && f == v
		case string:
			same = doc == strconv.Quote(v)
		default:
			t.Fatalf("%s: no comparison for %T", name, v)
		}
		if !same {
			t.Errorf("%s: docs/configuration.md states %s but %s is %v", key, doc, name, v)
		}
	}
	if named < len(namedDefaults) {
		t.Errorf("docs/configuration.md names %d Default* values, namedDefaults lists %d: drop the ones it no longer names", named, len(namedDefaults))
	}
}
