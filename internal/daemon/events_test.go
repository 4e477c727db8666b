package daemon

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/internal/config"
)

// TestEventsUnserved: a file that asks for events is refused by Validate (and
// so by serve, which builds its routes the same way), naming each key, instead
// of being served without its events.
func TestEventsUnserved(t *testing.T) {
	mod, err := filepath.Abs("../../examples/guests/hello-c/hello-c.wasm")
	if err != nil {
		t.Fatal(err)
	}
	base := "[admin]\ntoken_file = \"t\"\n[functions.f]\nmodule = \"" + mod + "\"\n"
	for _, tc := range []struct {
		name, toml string
		want       []string // key paths in the error; none: accepted
	}{
		{"no events", `[[routes]]
name = "r"
path = "/"
function = "f"
stage = "retired"
`, nil},
		{"engine settings alone", "[events]\nsync = \"interval\"\n", nil},
		{"trigger", "[[triggers]]\nname = \"t\"\nfunction = \"f\"\nsubject = \"a.b\"\n", []string{"triggers[0]"}},
		{"enqueue and publish", `[functions.g]
module = "` + mod + `"
publish = ["jobs.>"]
[[triggers]]
name = "t"
function = "f"
subject = "orders"
[[routes]]
name = "in"
path = "/orders"
enqueue = "orders"
`, []string{"triggers[0]", "routes[0].enqueue", "functions.g.publish", "events:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Decode([]byte(base+tc.toml), t.TempDir())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			err = Validate(cfg)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, errEventsUnserved) {
				t.Fatalf("Validate = %v, want errEventsUnserved", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %v, want it to name %s", err, w)
				}
			}
		})
	}
}
