package main

import (
	"strings"
	"testing"

	"github.com/edged/edged/fleet"
)

func TestPrintFleet(t *testing.T) {
	tests := []struct {
		name  string
		st    fleet.Status
		wants []string
	}{
		{"agreeing", fleet.Status{Node: "a", Nodes: []fleet.Node{{Name: "a", Revision: 7, Live: true, Leader: true}, {Name: "b", Revision: 7, Live: true}}},
			[]string{"a (this node)", "b ", "7", "yes", "all nodes agree"}},
		{"disagreeing", fleet.Status{Node: "a", Nodes: []fleet.Node{{Name: "a", Revision: 7, Live: true}, {Name: "c", Revision: 5, AgeSeconds: 12.3}},
			Disagreements: []string{"c: at revision 5, the newest is 7"}},
			[]string{"12.3s", "disagreements:", "  c: at revision 5, the newest is 7"}},
		{"registry unreachable", fleet.Status{Node: "a", Nodes: []fleet.Node{{Name: "a"}}, Error: "the node registry is not reachable"},
			[]string{"node registry: the node registry is not reachable"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			printFleet(&b, tc.st)
			for _, w := range tc.wants {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
