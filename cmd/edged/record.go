package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// cmdRecord records a route's traffic for a while through the admin API and
// copies the corpus to -out (docs/record-replay.md). The corpus file is on the
// daemon's host, so -out needs the command to run there (the admin API is on
// loopback by default).
func cmdRecord(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("record", stderr)
	var af adminFlags
	af.register(fs)
	dur := fs.Duration("for", 10*time.Minute, "how long to record; Ctrl-C stops early")
	out := fs.String("out", "", "copy the corpus to this file when done (default: print where it is)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *dur <= 0 {
		fmt.Fprintln(stderr, "usage: edged record ROUTE [-for 10m] [-out corpus.jsonl] [admin flags]")
		return errUsage
	}
	route := pos[0]
	c, err := af.client()
	if err != nil {
		return err
	}
	st, err := c.StartRecording(context.Background(), route)
	if err != nil {
		return hint(err)
	}
	fmt.Fprintf(stdout, "recording %s into %s for %v (Ctrl-C stops early)\n", route, st.Path, *dur)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	t := time.NewTimer(*dur)
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	stop()
	// Stop even when interrupted: a recording left running fills its max_bytes.
	st, err = c.StopRecording(context.Background(), route)
	if err != nil {
		return hint(err)
	}
	fmt.Fprintf(stdout, "%s: %d records (%d dropped), %d bytes\n", route, st.Records, st.Dropped, st.Bytes)
	if *out == "" {
		fmt.Fprintf(stdout, "corpus: %s\n", st.Path)
		return nil
	}
	if err := copyCorpus(*out, st.Rotated, st.Path); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "corpus: %s\n", *out)
	return nil
}

// copyCorpus writes the rotated half (older records, may be "") then the
// current file into out, mode 0600: a corpus holds user traffic.
func copyCorpus(out string, parts ...string) error {
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range parts {
		if p == "" {
			continue
		}
		in, err := os.Open(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w (run edged record on the daemon's host, or copy it from there)", err))
			continue
		}
		_, err = io.Copy(f, in)
		in.Close()
		errs = append(errs, err)
	}
	errs = append(errs, f.Close())
	return errors.Join(errs...)
}
