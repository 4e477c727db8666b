package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/edged/edged/admin"
)

const dlqUsage = `usage: edged dlq list TRIGGER [admin flags]
       edged dlq redrive TRIGGER (-id EVENT-ID | -all) [admin flags]`

// cmdDLQ runs `edged dlq list TRIGGER` and `edged dlq redrive TRIGGER (-id ID |
// -all)` on the admin API.
func cmdDLQ(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dlq", stderr)
	var af adminFlags
	af.register(fs)
	id := fs.String("id", "", "redrive: the event id of the dead letter to redrive")
	all := fs.Bool("all", false, "redrive: every dead letter of the trigger")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[0] != "list" && pos[0] != "redrive") {
		fmt.Fprintln(stderr, dlqUsage)
		return errUsage
	}
	sub, trigger := pos[0], pos[1]
	if sub == "redrive" && (*id == "") == !*all || sub == "list" && (*id != "" || *all) {
		fmt.Fprintln(stderr, dlqUsage)
		return errUsage
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	ctx := context.Background()
	if sub == "list" {
		dls, err := c.DeadLetters(ctx, trigger)
		if err != nil {
			return hint(err)
		}
		printDeadLetters(stdout, trigger, dls)
		return nil
	}
	n, err := c.Redrive(ctx, trigger, admin.RedriveRequest{ID: *id, All: *all})
	if err != nil {
		return hint(err)
	}
	fmt.Fprintf(stdout, "%s: redrove %d dead letter(s)\n", trigger, n)
	return nil
}

// printDeadLetters writes one line per dead letter, oldest first.
func printDeadLetters(w io.Writer, trigger string, dls []admin.DeadLetter) {
	if len(dls) == 0 {
		fmt.Fprintf(w, "%s: no dead letters\n", trigger)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tSOURCE\tATTEMPTS\tSTATUS\tREASON\tTIME")
	for _, d := range dls {
		status := "-"
		if d.LastStatus != 0 {
			status = fmt.Sprint(d.LastStatus)
		}
		reason := d.Reason
		if d.LastError != "" {
			reason += ": " + d.LastError
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, d.Type, d.Source, d.Attempts, status, reason,
			d.Time.UTC().Format(time.RFC3339))
	}
	tw.Flush()
}
