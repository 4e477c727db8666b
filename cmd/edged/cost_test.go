package main

import (
	"strings"
	"testing"

	"github.com/edged/edged/router"
)

func TestPrintCost(t *testing.T) {
	be := 0.25
	rep := router.CostReport{
		Pricing: router.DefaultPricing(),
		Functions: []router.FunctionCost{
			{Function: "api", Routes: []string{"users", "orders"}, Invocations: 1200, BilledMs: 1200, GBSeconds: 0.15,
				PeakConcurrency: 3, MeanConcurrency: 0.4, WarmUtilization: 0.5, FunctionMonthly: 80,
				Containers: 2, ContainerMonthly: 73, Utilization: 0.3, BreakEven: &be, ContainerCheaper: true},
			{Function: "idle", Containers: 1, ContainerMonthly: 36.5},
		},
	}
	var sb strings.Builder
	printCost(&sb, rep)
	out := sb.String()
	for _, want := range []string{
		"FUNCTION", "users,orders", "1200", "3/0.40", "50.0%", "$80.00", "$73.00 (2)", "30.0%/25.0%",
		"container would be cheaper", "idle", "0.0%/-", "prices: $0.2 per million requests",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("printCost output lacks %q:\n%s", want, out)
		}
	}
}
