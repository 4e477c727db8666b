package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
)

// cmdValidate runs `edged validate -config FILE`: "ok" and exit 0, or every problem on
// its own line on stderr and exit 1. Besides config.Load's checks it builds the
// routing table and the upstreams' options, which is what serve would do next,
// without connecting anywhere, loading modules or reading secrets.
func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", stderr)
	cfgPath := fs.String("config", "", "configuration file (required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 1 && *cfgPath == "" {
		*cfgPath = pos[0] // "edged validate router.toml" is what people type
	} else if len(pos) > 0 {
		fmt.Fprintf(stderr, "edged validate: unexpected arguments %s\n", strings.Join(pos, " "))
		return errUsage
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "edged validate: -config is required")
		return errUsage
	}
	problems := validateFile(*cfgPath)
	if len(problems) == 0 {
		fmt.Fprintln(stdout, "ok")
		return nil
	}
	for _, p := range problems {
		fmt.Fprintln(stderr, p)
	}
	return errReported
}

// validateFile returns every problem with the file at path, one line each; none means
// valid.
func validateFile(path string) []string {
	cfg, err := config.Load(path)
	if err != nil {
		return errorLines(err)
	}
	var errs []error
	if routes, err := tableRoutes(cfg); err != nil {
		errs = append(errs, err)
	} else if _, err := strangler.NewTable(routes); err != nil {
		errs = append(errs, err)
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Upstreams)) {
		u, err := proxy.New(name, upstreamOptions(cfg, cfg.Upstreams[name]), nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("upstreams.%s: %w", name, err))
			continue
		}
		u.Close()
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Functions)) {
		if _, err := cfg.Functions[name].Policy(); err != nil {
			errs = append(errs, fmt.Errorf("functions.%s: %w", name, err))
		}
	}
	return errorLines(errors.Join(errs...))
}

// errorLines splits an error, typically several joined with errors.Join, into its
// non-empty lines.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimRight(l, " \t\r"); strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
