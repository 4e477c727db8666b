package fleet

import (
	"fmt"
	"os"
	"strings"
	"time"
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

// maxNodeLen bounds a node name (it travels in subjects and lock values).
const maxNodeLen = 128

// CheckNode returns an error unless node can name a fleet node: 1 to 128
// bytes of letters, digits, '-', '_' and '.', with no empty dot-separated
// part, so a host name fits and the name is a valid NATS subject suffix.
func CheckNode(node string) error {
	if len(node) == 0 || len(node) > maxNodeLen || !validToken(node, true) {
		return fmt.Errorf("fleet: node name %q: use 1 to %d letters, digits, '-', '_' and non-adjacent inner dots", node, maxNodeLen)
	}
	return nil
}

// validToken reports whether s is made of letters, digits, '-' and '_' (and,
// with dots, of such parts separated by single dots).
func validToken(s string, dots bool) bool {
	if s == "" {
		return false
	}
	prevDot := true // a leading dot is an empty part
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			prevDot = false
		case c == '.' && dots && !prevDot:
			prevDot = true
		default:
			return false
		}
	}
	return !prevDot
}

// Node is one fleet member as it registered itself in NodesBucket.
type Node struct {
	Name string `json:"name"`
	// Revision is the highest routes-bucket revision the node applied.
	Revision uint64 `json:"revision"`
	// Live: the node follows the bucket (connected, caught up).
	Live bool `json:"live"`
	// AgeSeconds is the node's edged_fleet_state_age_seconds.
	AgeSeconds float64 `json:"age_seconds"`
	// Leader: the node runs the fleet's migration controller.
	Leader bool `json:"leader"`
	// Skipped counts the routes whose fleet state the node does not apply
	// (its router.toml differs); NotApplied names some of them with why.
	Skipped    int               `json:"skipped"`
	NotApplied map[string]string `json:"not_applied,omitempty"`
	// Time is when the node wrote this entry.
	Time time.Time `json:"time"`
}

// Status is the fleet as one node sees it: GET /v1/fleet and `edged status`.
type Status struct {
	// Node is the node answering; Self its own entry, current.
	Node string `json:"node"`
	Self Node   `json:"self"`
	// Nodes are every registered node, by name (Self among them when the
	// registry could be read).
	Nodes []Node `json:"nodes"`
	// Disagreements are human-readable lines: nodes behind the newest
	// revision, not live, or not applying some routes.
	Disagreements []string `json:"disagreements,omitempty"`
	// Error says why the registry could not be read (Nodes then holds Self
	// only).
	Error string `json:"error,omitempty"`
}
