package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/edged/edged/corpus"
	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/internal/daemon"
	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
	"github.com/edged/edged/replay"
)

// cmdReplay replays a corpus against a new module, in-process, or against a
// live deployment, and fails above -max-mismatch-rate (docs/record-replay.md).
func cmdReplay(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", stderr)
	corpusPath := fs.String("corpus", "", "the corpus to replay (JSON Lines, from edged record or edged corpus import)")
	module := fs.String("module", "", "the .wasm build to check, run in-process")
	against := fs.String("against", "", "a live deployment's base URL to send the requests to instead")
	cfgPath := fs.String("config", "", "router.toml giving the route's function limits, config, secrets and shadow rules")
	route := fs.String("route", "", "replay this route's records only, under its rules (default: the first record's route)")
	maxRate := fs.Float64("max-mismatch-rate", 0, "exit 1 when the share of mismatched records is above this (0..1)")
	asJSON := fs.Bool("json", false, "print the summary as JSON, for CI")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *corpusPath == "" || (*module == "") == (*against == "") || *maxRate < 0 || *maxRate > 1 {
		fmt.Fprintln(stderr, "usage: edged replay -corpus FILE (-module new.wasm | -against URL) [-config router.toml] [-route NAME] [-max-mismatch-rate 0..1] [-json]")
		return errUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *route == "" {
		if *route, err = firstRoute(*corpusPath); err != nil {
			return err
		}
	}
	var cfg *config.Config
	var rules replay.Rules
	if *cfgPath != "" {
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
		if rules, err = routeRules(cfg, *route); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var target replay.Target
	if *against != "" {
		if target, err = replay.NewHTTP(*against, nil); err != nil {
			return err
		}
	} else {
		f, closeFn, err := loadReplayModule(ctx, *module, cfg, *route, *corpusPath, log)
		if err != nil {
			return err
		}
		defer closeFn()
		target = replay.NewModule(f)
	}
	file, err := os.Open(*corpusPath)
	if err != nil {
		return err
	}
	defer file.Close()
	sum, err := replay.Run(ctx, corpus.NewReader(file), target, replay.Options{Rules: rules, Route: *route})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else if err := sum.WriteText(stdout); err != nil {
		return err
	}
	switch {
	case sum.Records == 0:
		fmt.Fprintf(stderr, "edged replay: no records of route %q in %s\n", *route, *corpusPath)
		return errReported
	case sum.MismatchRate > *maxRate:
		fmt.Fprintf(stderr, "edged replay: mismatch rate %.2f%% is above -max-mismatch-rate %.2f%%\n", 100*sum.MismatchRate, 100**maxRate)
		return errReported
	}
	return nil
}

// firstRoute returns the route of the corpus' first valid record.
func firstRoute(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r := corpus.NewReader(f)
	for {
		rec, err := r.Next()
		var le *corpus.LineError
		switch {
		case errors.As(err, &le):
			continue
		case errors.Is(err, io.EOF):
			return "", fmt.Errorf("%s holds no valid record", path)
		case err != nil:
			return "", err
		}
		return rec.Route, nil
	}
}

// routeRules returns the shadow rules of the route named route.
func routeRules(cfg *config.Config, route string) (replay.Rules, error) {
	for _, r := range cfg.Routes {
		if r.Name != route {
			continue
		}
		if r.Shadow == nil {
			return replay.Rules{}, nil
		}
		return replay.Rules{CompareHeaders: slices.Clone(r.Shadow.CompareHeaders), Ignore: slices.Clone(r.Shadow.Ignore)}, nil
	}
	return replay.Rules{}, fmt.Errorf("no route %q in the configuration", route)
}

// loadReplayModule loads module under the route's function options from cfg,
// or, without cfg, under the default limits with egress allowed to the
// origins the corpus' recorded fetches went to (they were allowed when
// recorded; nothing leaves the process in replay anyway).
func loadReplayModule(ctx context.Context, module string, cfg *config.Config, route, corpusPath string,
	log *slog.Logger) (*isolate.Function, func(), error) {
	opts := isolate.FunctionOptions{Name: "replay"}
	ropts := isolate.RuntimeOptions{Logger: log}
	var err error
	if cfg != nil {
		if opts, err = daemon.ReplayFunction(cfg, route, log); err != nil {
			return nil, nil, err
		}
		ropts.CacheDir = cfg.Runtime.CacheDir
	} else if opts.Policy.Egress.Allow, err = fetchOrigins(corpusPath); err != nil {
		return nil, nil, err
	}
	opts.Logger = log
	rt, err := isolate.NewRuntime(ctx, ropts)
	if err != nil {
		return nil, nil, err
	}
	abs, err := filepath.Abs(module)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, nil, err
	}
	f, err := rt.Load(ctx, isolate.Source{Path: abs}, opts)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, nil, err
	}
	return f, func() { _ = f.Close(context.WithoutCancel(ctx)); _ = rt.Close(context.WithoutCancel(ctx)) }, nil
}

// fetchOrigins returns an allow-list of the scheme://host of every fetch the
// corpus recorded.
func fetchOrigins(path string) ([]limits.Pattern, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []limits.Pattern
	for r := corpus.NewReader(f); ; {
		rec, err := r.Next()
		var le *corpus.LineError
		switch {
		case errors.As(err, &le):
			continue
		case errors.Is(err, io.EOF):
			return out, nil
		case err != nil:
			return nil, err
		}
		for _, fe := range rec.Fetches {
			u, err := url.Parse(fe.Request.URL)
			if err != nil || u.Host == "" {
				continue
			}
			origin := u.Scheme + "://" + u.Host
			if seen[origin] {
				continue
			}
			seen[origin] = true
			p, err := limits.ParsePattern(origin)
			if err != nil {
				return nil, fmt.Errorf("recorded fetch %s: %w", fe.Request.URL, err)
			}
			out = append(out, p)
		}
	}
}
