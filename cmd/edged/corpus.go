package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/edged/edged/corpus"
)

// cmdCorpus runs `edged corpus import`: HAR 1.2 and GoReplay files into a
// corpus for replay (docs/record-replay.md).
func cmdCorpus(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprintln(stderr, "usage: edged corpus import -route NAME -out corpus.jsonl [-format har|gor] [-redact NAME,$.path,...] FILE...")
		return errUsage
	}
	fs := newFlagSet("corpus import", stderr)
	route := fs.String("route", "", "the route the records are for (replay -route picks them)")
	out := fs.String("out", "", "the corpus to write (replaced)")
	format := fs.String("format", "", `"har" or "gor" (default: from each file's extension, .har or .gor)`)
	redact := fs.String("redact", "", "comma-separated header names and JSON paths to redact, besides Authorization, Cookie and Set-Cookie")
	files, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if *route == "" || *out == "" || len(files) == 0 || (*format != "" && *format != "har" && *format != "gor") {
		fmt.Fprintln(stderr, "usage: edged corpus import -route NAME -out corpus.jsonl [-format har|gor] [-redact NAME,$.path,...] FILE...")
		return errUsage
	}
	var red corpus.Redaction
	for _, s := range strings.Split(*redact, ",") {
		switch s = strings.TrimSpace(s); {
		case s == "":
		case strings.HasPrefix(s, "$"):
			red.JSONPaths = append(red.JSONPaths, s)
		default:
			red.Headers = append(red.Headers, s)
		}
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	enc, err := corpus.NewEncoder(f, red)
	if err != nil {
		f.Close()
		return err
	}
	total, skipped := 0, 0
	var errs []error
	for _, name := range files {
		kind := *format
		if kind == "" {
			kind = strings.TrimPrefix(strings.ToLower(filepath.Ext(name)), ".")
		}
		imp := corpus.ImportHAR
		switch kind {
		case "har":
		case "gor":
			imp = corpus.ImportGor
		default:
			errs = append(errs, fmt.Errorf("%s: cannot tell HAR from GoReplay (give -format)", name))
			continue
		}
		in, err := os.Open(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n := 0
		err = imp(in, *route, func(r *corpus.Record) error { n++; return enc.Encode(r) }, func(i int, err error) {
			skipped++
			fmt.Fprintf(stderr, "%s: entry %d skipped: %v\n", name, i, err)
		})
		in.Close()
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	errs = append(errs, f.Close())
	fmt.Fprintf(stdout, "%d records written to %s (%d entries skipped)\n", total, *out, skipped)
	return errors.Join(errs...)
}
