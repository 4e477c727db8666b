package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode: Decode never panics, returns a Config exactly when it returns
// no error, and a returned Config passes validation again.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.toml")
	files = append(files, "../../router.toml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(minimal))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data, "testdata")
		if (c == nil) == (err == nil) {
			t.Fatalf("Decode(%q) = %v, %v; want exactly one of them nil", data, c, err)
		}
		if err != nil {
			return
		}
		if errs := validate(c); len(errs) > 0 {
			t.Fatalf("Decode(%q) returned a Config that fails validation: %v", data, errors.Join(errs...))
		}
		for name, fn := range c.Functions {
			if _, err := fn.Policy(); err != nil {
				t.Fatalf("Decode(%q) functions.%s.Policy() error: %v", data, name, err)
			}
		}
		// What config accepts, the events package must accept too.
		if c.Events != nil {
			if err := c.Events.Options().Validate(); err != nil {
				t.Fatalf("Decode(%q) events.Options().Validate() error: %v", data, err)
			}
		}
		for i, tr := range c.Triggers {
			if err := tr.Events().Validate(); err != nil {
				t.Fatalf("Decode(%q) triggers[%d].Events().Validate() error: %v", data, i, err)
			}
		}
	})
}

// FuzzJSONPath: checkJSONPath never panics, and what it accepts starts with
// "$" and has no spaces.
func FuzzJSONPath(f *testing.F) {
	for _, s := range []string{"$", "$.a", "$.items[*].id", "$[0].b", "$.a.*", "$..", "$[", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkJSONPath(s) == nil && (!strings.HasPrefix(s, "$") || strings.ContainsAny(s, " \t\n")) {
			t.Fatalf("checkJSONPath(%q) = nil, want an error", s)
		}
	})
}
