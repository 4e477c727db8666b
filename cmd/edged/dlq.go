package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
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

const publishUsage = `usage: edged publish SUBJECT [-type CE-TYPE] [-data TEXT | -data @FILE | -data @-] [admin flags]`

// maxPublishData bounds what `edged publish` reads from a file or stdin: the
// admin API refuses more anyway.
const maxPublishData = 1 << 20

// cmdPublish runs `edged publish SUBJECT -data @file`: the data is published
// as a CloudEvent through the admin API, and its id printed.
func cmdPublish(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("publish", stderr)
	var af adminFlags
	af.register(fs)
	typ := fs.String("type", "", "CloudEvents type (default "+admin.DefaultPublishType+")")
	data := fs.String("data", "", "the data: TEXT, @FILE, or @- for stdin")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, publishUsage)
		return errUsage
	}
	body := []byte(*data)
	if name, ok := strings.CutPrefix(*data, "@"); ok {
		var r io.Reader = stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		if body, err = io.ReadAll(io.LimitReader(r, maxPublishData+1)); err != nil {
			return err
		}
		if len(body) > maxPublishData {
			return fmt.Errorf("data over %d bytes", maxPublishData)
		}
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	id, err := c.Publish(context.Background(), pos[0], *typ, body)
	if err != nil {
		return hint(err)
	}
	fmt.Fprintln(stdout, id)
	return nil
}

// cmdEvents runs `edged events`: every running trigger with its stream,
// consumer, lag, events in flight, redeliveries and dead letters.
func cmdEvents(args []string, stdout, stderr io.Writer) error {
	c, err := clientNoArgs("events", args, stderr)
	if err != nil {
		return err
	}
	ts, err := c.Triggers(context.Background())
	if err != nil {
		return hint(err)
	}
	if len(ts) == 0 {
		fmt.Fprintln(stdout, "no triggers")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TRIGGER\tSUBJECT\tDEDUP\tSTREAM\tCONSUMER\tPENDING\tIN FLIGHT\tREDELIVERED\tDELIVERED\tDEAD LETTERS")
	for _, t := range ts {
		subj := t.Subject
		if t.Schedule != "" {
			subj = "schedule " + t.Schedule
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", t.Name, subj, t.Dedup, t.Stream, t.Consumer,
			t.Pending, t.InFlight, t.Redelivered, t.Delivered, t.DeadLetters)
	}
	tw.Flush()
	return nil
}
