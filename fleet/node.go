package fleet

import (
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
