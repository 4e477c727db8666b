package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/router"
)

// pricing converts [pricing] for the admin API's cost report. The billing
// granularity goes to each function instead (see loadWorld).
func pricing(p config.Pricing) *router.Pricing {
	return &router.Pricing{
		PerMillionRequests:         p.PerMillionRequests,
		PerGBSecond:                p.PerGBSecond,
		ContainerPerHour:           p.ContainerPerHour,
		ContainerRequestsPerSecond: p.ContainerRequestsPerSecond,
	}
}

// cmdCost prints the cost and efficiency report of GET /v1/cost: one line per
// function, with the routes it serves.
func cmdCost(args []string, stdout, stderr io.Writer) error {
	c, err := clientNoArgs("cost", args, stderr)
	if err != nil {
		return err
	}
	var rep router.CostReport
	if err := c.do(context.Background(), http.MethodGet, "/v1/cost", nil, &rep); err != nil {
		return err
	}
	printCost(stdout, rep)
	return nil
}

// printCost writes the cost table. Money is USD per month.
func printCost(w io.Writer, rep router.CostReport) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tROUTES\tINVOCATIONS\tBILLED\tGB-S\tCONC PEAK/MEAN\tWARM UTIL\tFUNCTIONS $/MO\tCONTAINERS $/MO\tUTIL/BREAK-EVEN\tVERDICT")
	for _, f := range rep.Functions {
		routes := strings.Join(f.Routes, ",")
		if routes == "" {
			routes = "-"
		}
		be, verdict := "-", "functions"
		if f.BreakEven != nil {
			be = pct(*f.BreakEven)
		}
		if f.ContainerCheaper {
			verdict = "container would be cheaper"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%sms\t%s\t%d/%s\t%s\t%s\t%s (%d)\t%s/%s\t%s\n", f.Function, routes, f.Invocations,
			strconv.FormatFloat(f.BilledMs, 'f', 0, 64), strconv.FormatFloat(f.GBSeconds, 'g', 4, 64),
			f.PeakConcurrency, strconv.FormatFloat(f.MeanConcurrency, 'f', 2, 64), pct(f.WarmUtilization),
			money(f.FunctionMonthly), money(f.ContainerMonthly), f.Containers,
			pct(f.Utilization), be, verdict)
	}
	tw.Flush()
	p := rep.Pricing
	fmt.Fprintf(w, "prices: $%g per million requests, $%g per GB-s, container $%g/h serving %g req/s\n",
		p.PerMillionRequests, p.PerGBSecond, p.ContainerPerHour, p.ContainerRequestsPerSecond)
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" }

func money(f float64) string { return "$" + strconv.FormatFloat(f, 'f', 2, 64) }
