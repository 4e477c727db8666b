package fleet

import (
	"fmt"
	"os"
	"strings"
)

// Where a node keeps its route state: [fleet] state.
const (
	// StateFile keeps it in the state directory's migrations.json, one node
	// alone (the default).
	StateFile = "file"
	// StateNATS keeps it in RoutesBucket, shared by every node.
	StateNATS = "nats"
	// DefaultState is StateFile.
	DefaultState = StateFile
)

// maxNodeLen bounds a node name.
const maxNodeLen = 128

// CheckNode returns why name cannot name a node, or nil: 1..128 letters,
// digits, '-', '_' and '.', with no dot leading, trailing or doubled (a node
// name is a key of NodesBucket).
func CheckNode(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("node name is empty")
	case len(name) > maxNodeLen:
		return fmt.Errorf("node name %q is longer than %d bytes", name, maxNodeLen)
	case name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, ".."):
		return fmt.Errorf("node name %q: a dot may not lead, trail or follow a dot", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !keyByte(c) && c != '.' {
			return fmt.Errorf("node name %q: only letters, digits, '-', '_' and '.' are allowed", name)
		}
	}
	return nil
}

// DefaultNode is the default [fleet] node: the host name, with every byte a
// node name may not hold replaced by '-', or "edged" when there is none.
func DefaultNode() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "edged"
	}
	b := []byte(h)
	for i, c := range b {
		if !keyByte(c) && c != '.' {
			b[i] = '-'
		}
	}
	name := strings.Trim(string(b), ".")
	for strings.Contains(name, "..") {
		name = strings.ReplaceAll(name, "..", ".")
	}
	if len(name) > maxNodeLen {
		name = strings.TrimRight(name[:maxNodeLen], ".")
	}
	if CheckNode(name) != nil {
		return "edged"
	}
	return name
}
