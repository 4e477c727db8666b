package fleet

import "fmt"

// This file is the same CheckNode as the leader election's (election.go on
// branch h-elect, which names nodes in the same fleet): whichever branch is
// merged second drops this file.

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
