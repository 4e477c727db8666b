package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/edged/edged/cost"
)

// cmdCost prints the cost and efficiency report of GET /v1/cost: one line per
// route that has a function, from the route's own invocations, then one line
// per function, with the routes it serves.
func cmdCost(args []string, stdout, stderr io.Writer) error {
	c, err := clientNoArgs("cost", args, stderr)
	if err != nil {
		return err
	}
	rep, err := c.Cost(context.Background())
	if err != nil {
		return hint(err)
	}
	printCost(stdout, rep)
	return nil
}

// printCost writes the cost tables. Money is USD per month.
func printCost(w io.Writer, rep cost.Report) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tSTAGE\tFUNCTION\tINVOCATIONS\tBILLED\tGB-S\tCONC PEAK/MEAN\tWARM UTIL\tFUNCTIONS $/MO\tCONTAINERS $/MO\tUTIL/BREAK-EVEN\tVERDICT")
	for _, r := range rep.Routes {
		inv := strconv.FormatUint(r.Invocations, 10)
		if r.Mirrored > 0 {
			inv += " (" + strconv.FormatUint(r.Mirrored, 10) + " mirrored)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Route, r.Stage, r.Function, inv,
			costColumns(r.BilledMs, r.GBSeconds, r.PeakConcurrency, r.MeanConcurrency, r.WarmUtilization,
				r.FunctionMonthly, r.ContainerMonthly, r.Containers, r.Utilization, r.BreakEven, r.ContainerCheaper, r.LowData))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tROUTES\tINVOCATIONS\tBILLED\tGB-S\tCONC PEAK/MEAN\tWARM UTIL\tFUNCTIONS $/MO\tCONTAINERS $/MO\tUTIL/BREAK-EVEN\tVERDICT")
	for _, f := range rep.Functions {
		routes := strings.Join(f.Routes, ",")
		if routes == "" {
			routes = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", f.Function, routes, f.Invocations,
			costColumns(f.BilledMs, f.GBSeconds, f.PeakConcurrency, f.MeanConcurrency, f.WarmUtilization,
				f.FunctionMonthly, f.ContainerMonthly, f.Containers, f.Utilization, f.BreakEven, f.ContainerCheaper, f.LowData))
	}
	tw.Flush()
	p := rep.Pricing
	fmt.Fprintf(w, "prices: $%g per million requests, $%g per GB-s, container $%g/h serving %g req/s\n",
		p.PerMillionRequests, p.PerGBSecond, p.ContainerPerHour, p.ContainerRequestsPerSecond)
	fmt.Fprintln(w, "routes: their own invocations since the daemon started (wall time, billed per invocation); functions: guest time since loaded")
	fmt.Fprintf(w, "too little data: fewer than %d invocations or under %v, too little to extrapolate a month from\n",
		cost.MinInvocations, cost.MinWindow)
}

// costColumns formats the columns a route line and a function line share,
// tab-separated.
func costColumns(billedMs, gbs float64, peak int64, mean, warm, fnMonthly, ctMonthly float64, containers int,
	util float64, breakEven *float64, cheaper, lowData bool) string {
	be, verdict := "-", "functions"
	if breakEven != nil {
		be = pct(*breakEven)
	}
	switch {
	case lowData:
		verdict = "too little data"
	case cheaper:
		verdict = "container would be cheaper"
	}
	return fmt.Sprintf("%sms\t%s\t%d/%s\t%s\t%s\t%s (%d)\t%s/%s\t%s",
		strconv.FormatFloat(billedMs, 'f', 0, 64), strconv.FormatFloat(gbs, 'g', 4, 64),
		peak, strconv.FormatFloat(mean, 'f', 2, 64), pct(warm), money(fnMonthly), money(ctMonthly), containers,
		pct(util), be, verdict)
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" }

func money(f float64) string { return "$" + strconv.FormatFloat(f, 'f', 2, 64) }
