package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/edged/edged/internal/daemon"
)

// errUsage marks a command-line mistake: the command has already printed what is
// wrong, and main exits 2 as the flag package does.
var errUsage = errors.New("usage")

// errReported marks a failure the command has already described on stderr; main
// exits 1 without adding to it.
var errReported = errors.New("failed")

const usage = `edged: the strangler-fig edge daemon

Usage:
  edged serve    -config router.toml [-log-level info] [-log-format text|json]
  edged dev      [-config router.toml] [-log-level info] [-log-format text|json]
  edged validate -config router.toml
  edged status   [-admin URL] [-token-file FILE] [-config router.toml]
  edged promote  ROUTE [-reason TEXT] [-admin URL] [-token-file FILE] [-config router.toml]
  edged rollback ROUTE [...same flags]
  edged pause    ROUTE [...same flags]
  edged resume   ROUTE [...same flags]
  edged weight   ROUTE N [...same flags]
  edged cost     [-admin URL] [-token-file FILE] [-config router.toml]
  edged reload   [-admin URL] [-token-file FILE] [-config router.toml]
  edged events   [-admin URL] [-token-file FILE] [-config router.toml]
  edged dlq      list TRIGGER | redrive TRIGGER (-id EVENT-ID | -all) [...admin flags]
  edged publish  SUBJECT [-type CE-TYPE] [-data TEXT|@FILE|@-] [...admin flags]
  edged record   ROUTE [-for 10m] [-out corpus.jsonl] [...admin flags]
  edged replay   -corpus corpus.jsonl (-module new.wasm | -against URL) [-config router.toml -route NAME]
                 [-max-mismatch-rate 0] [-json]
  edged corpus   import -route NAME -out corpus.jsonl [-format har|gor] [-redact NAME,$.path] FILE...
  edged version

Run "edged COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit code: 0 on success, 1 on
// failure, 2 on a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(rest, stdout, stderr, false)
	case "dev":
		err = cmdServe(rest, stdout, stderr, true)
	case "validate":
		err = cmdValidate(rest, stdout, stderr)
	case "status":
		err = cmdStatus(rest, stdout, stderr)
	case "cost":
		err = cmdCost(rest, stdout, stderr)
	case "reload":
		err = cmdReload(rest, stdout, stderr)
	case "dlq":
		err = cmdDLQ(rest, stdout, stderr)
	case "events":
		err = cmdEvents(rest, stdout, stderr)
	case "publish":
		err = cmdPublish(rest, os.Stdin, stdout, stderr)
	case "record":
		err = cmdRecord(rest, stdout, stderr)
	case "replay":
		err = cmdReplay(rest, stdout, stderr)
	case "corpus":
		err = cmdCorpus(rest, stdout, stderr)
	case "promote", "rollback", "pause", "resume", "weight":
		err = cmdAction(cmd, rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "edged: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errReported):
		return 1
	default:
		fmt.Fprintf(stderr, "edged %s: %v\n", cmd, err)
		return 1
	}
}

// newFlagSet returns a FlagSet for cmd that reports errors instead of exiting, and
// writes its usage to stderr.
func newFlagSet(cmd string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("edged "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args with fs, allowing flags after positional arguments
// ("edged promote users -reason x"), and returns the positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// newLogger builds the process's logger: only main picks the handler and level.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("-log-format %q: want text or json", format)
	}
}

// serviceVersion is versionString without the program name, for exported spans.
func serviceVersion() string { return strings.TrimPrefix(versionString(), "edged ") }

// versionString reports the module version and VCS revision the binary was built from.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "edged (unknown version)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	out := "edged " + v + " " + bi.GoVersion
	if rev != "" {
		out += " " + rev[:min(len(rev), 12)] + dirty
	}
	return out
}

// cmdServe runs `edged serve` and, with dev, `edged dev`.
func cmdServe(args []string, stdout, stderr io.Writer, dev bool) error {
	name := "serve"
	if dev {
		name = "dev"
	}
	fs := newFlagSet(name, stderr)
	cfgPath := fs.String("config", "", "configuration file (required)")
	if dev {
		*cfgPath = "router.toml"
		fs.Lookup("config").DefValue = "router.toml"
		fs.Lookup("config").Usage = "configuration file"
	}
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	format := fs.String("log-format", "text", "log format: text or json")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "edged %s: unexpected arguments %s\n", name, strings.Join(pos, " "))
		return errUsage
	}
	if *cfgPath == "" {
		fmt.Fprintf(stderr, "edged %s: -config is required\n", name)
		return errUsage
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if dev {
		return runDev(ctx, *cfgPath, stdout, log)
	}
	return daemon.Run(ctx, daemon.Options{ConfigPath: *cfgPath, Logger: log, Version: serviceVersion(), SpareP: true,
		OnReady: func(r daemon.Ready) { fmt.Fprintf(stdout, "edged: serving %s\nedged: admin %s\n", r.Public, r.Admin) },
	})
}
