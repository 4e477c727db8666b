package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/fleet"
	"github.com/edged/edged/internal/config"
)

const defaultAdminURL = "http://127.0.0.1:9901"

// adminFlags are the flags every client command shares.
type adminFlags struct {
	admin, tokenFile, config string
	timeout                  time.Duration
}

func (a *adminFlags) register(fs interface {
	StringVar(*string, string, string, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	fs.StringVar(&a.admin, "admin", "", "admin API base URL (default from -config, else "+defaultAdminURL+")")
	fs.StringVar(&a.tokenFile, "token-file", "", "file holding the admin bearer token (default from -config)")
	fs.StringVar(&a.config, "config", "", "router.toml to take [admin] listen and token_file from (default ./router.toml if it exists)")
	fs.DurationVar(&a.timeout, "timeout", 2*time.Minute, "how long to wait for the admin API")
}

// client resolves the flags into an admin API client: explicit flags win, then the
// [admin] table of -config (or ./router.toml when present and no -admin was given).
func (a *adminFlags) client() (*admin.Client, error) {
	base, tokenFile := a.admin, a.tokenFile
	cfgPath := a.config
	if cfgPath == "" && (base == "" || tokenFile == "") {
		if _, err := os.Stat("router.toml"); err == nil {
			cfgPath = "router.toml"
		}
	}
	if cfgPath != "" && (base == "" || tokenFile == "") {
		// Only [admin] is read, leniently: a typo elsewhere in the file is the
		// daemon's to report (edged validate), not a reason to refuse
		// `edged status`.
		adm, err := config.LoadAdmin(cfgPath)
		if err != nil {
			return nil, fmt.Errorf("%w\n(give the admin API with -admin URL -token-file FILE instead)", err)
		}
		if base == "" {
			base = "http://" + adm.Listen
		}
		if tokenFile == "" {
			tokenFile = adm.TokenFile
		}
	}
	if base == "" {
		base = defaultAdminURL
	}
	if tokenFile == "" {
		return nil, errors.New("no admin token: give -token-file FILE (and -admin URL), or -config FILE with an [admin] token_file")
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w (give another with -token-file FILE)", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return nil, fmt.Errorf("admin token %q: empty (give another with -token-file FILE)", tokenFile)
	}
	return admin.NewClient(base, tok, &http.Client{Timeout: a.timeout}), nil
}

// hint adds what to check to an admin API error the operator can fix here: a
// refused token.
func hint(err error) error {
	var ae *admin.Error
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return fmt.Errorf("%w (check the token file)", err)
	}
	return err
}

// clientNoArgs parses the admin flags of a command that takes no positional
// arguments and returns its admin API client.
func clientNoArgs(name string, args []string, stderr io.Writer) (*admin.Client, error) {
	fs := newFlagSet(name, stderr)
	var af adminFlags
	af.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "edged %s: unexpected arguments %s\n", name, strings.Join(pos, " "))
		return nil, errUsage
	}
	return af.client()
}

// cmdStatus prints one line per route: where it stands and how each side is doing.
func cmdStatus(args []string, stdout, stderr io.Writer) error {
	c, err := clientNoArgs("status", args, stderr)
	if err != nil {
		return err
	}
	ctx := context.Background()
	routes, err := c.Routes(ctx)
	if err != nil {
		return hint(err)
	}
	details := make([]admin.RouteDetail, 0, len(routes))
	for _, r := range routes {
		d, err := c.Route(ctx, r.Name)
		if err != nil {
			var ae *admin.Error
			if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
				continue // removed by a reload in between
			}
			return hint(err)
		}
		details = append(details, d)
	}
	printStatus(stdout, details)
	st, err := c.Fleet(ctx)
	var ae *admin.Error
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusNotImplemented:
		return nil // a node on its own: no fleet to show
	case err != nil:
		return hint(err)
	}
	fmt.Fprintln(stdout)
	printFleet(stdout, st)
	return nil
}

// printFleet writes the fleet's nodes and where they disagree.
func printFleet(w io.Writer, st fleet.Status) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tREVISION\tSTATE AGE\tLIVE\tLEADER")
	for _, n := range st.Nodes {
		name := n.Name
		if name == st.Node {
			name += " (this node)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", name, n.Revision, strconv.FormatFloat(n.AgeSeconds, 'f', 1, 64)+"s",
			yesNo(n.Live), yesNo(n.Leader))
	}
	tw.Flush()
	if st.Error != "" {
		fmt.Fprintf(w, "node registry: %s\n", st.Error)
	}
	if len(st.Disagreements) == 0 {
		fmt.Fprintln(w, "all nodes agree")
		return
	}
	fmt.Fprintln(w, "disagreements:")
	for _, d := range st.Disagreements {
		fmt.Fprintf(w, "  %s\n", d)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printStatus writes the status table.
func printStatus(w io.Writer, routes []admin.RouteDetail) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tPATH\tSTAGE\tWEIGHT\tLEGACY REQ\tLEGACY 5XX\tISOLATE REQ\tISOLATE 5XX\tFALLBACKS\tMISMATCHES")
	for _, d := range routes {
		r, s := d.Route, d.Stats
		stage := r.Stage
		if r.Paused {
			stage += " (paused)"
		}
		weight := "-"
		if r.Stage == "canary" {
			weight = strconv.Itoa(r.Weight) + "%"
		}
		mism := "-"
		if s.ShadowCompared > 0 {
			mism = fmt.Sprintf("%d/%d", s.ShadowMismatches, s.ShadowCompared)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%d\t%s\n", r.Name, r.Host+r.Path, stage, weight,
			s.Legacy.Requests, rate(s.Legacy.Errors5xx, s.Legacy.Requests),
			s.Isolate.Requests, rate(s.Isolate.Errors5xx, s.Isolate.Requests),
			s.Isolate.Fallbacks, mism)
	}
	tw.Flush()
}

// rate formats n/total as a percentage, "-" when there is nothing to divide.
func rate(n, total uint64) string {
	if total == 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(n)/float64(total), 'f', 1, 64) + "%"
}

// cmdAction runs promote, rollback, pause, resume (ROUTE) and weight (ROUTE N).
func cmdAction(action string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(action, stderr)
	var af adminFlags
	af.register(fs)
	reason := fs.String("reason", "", "why, recorded in the route's event history")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	want := 1
	if action == "weight" {
		want = 2
	}
	if len(pos) != want {
		if action == "weight" {
			fmt.Fprintln(stderr, "usage: edged weight ROUTE N [-reason TEXT] [admin flags]")
		} else {
			fmt.Fprintf(stderr, "usage: edged %s ROUTE [-reason TEXT] [admin flags]\n", action)
		}
		return errUsage
	}
	weight := 0
	if action == "weight" {
		n, err := strconv.Atoi(pos[1])
		if err != nil || n < 0 || n > 100 {
			fmt.Fprintf(stderr, "edged weight: %q is not a percentage from 0 to 100\n", pos[1])
			return errUsage
		}
		weight = n
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	ctx := context.Background()
	name := pos[0]
	before, err := c.Route(ctx, name)
	if err != nil {
		return hint(err)
	}
	var after admin.Route
	switch action {
	case "promote":
		after, err = c.Promote(ctx, name, *reason)
	case "rollback":
		after, err = c.Rollback(ctx, name, *reason)
	case "pause":
		after, err = c.Pause(ctx, name, *reason)
	case "resume":
		after, err = c.Resume(ctx, name, *reason)
	case "weight":
		after, err = c.SetWeight(ctx, name, weight, *reason)
	default:
		return fmt.Errorf("unknown action %q", action)
	}
	if err != nil {
		return hint(err)
	}
	fmt.Fprintf(stdout, "%s: %s -> %s\n", name, describe(before.Route), describe(after))
	return nil
}

// describe renders a route's position: "canary 25%", "isolate (paused)".
func describe(r admin.Route) string {
	s := r.Stage
	if r.Stage == "canary" {
		s += " " + strconv.Itoa(r.Weight) + "%"
	}
	if r.Paused {
		s += " (paused)"
	}
	return s
}

// cmdReload asks the daemon to reload its configuration file.
func cmdReload(args []string, stdout, stderr io.Writer) error {
	c, err := clientNoArgs("reload", args, stderr)
	if err != nil {
		return err
	}
	if err := c.Reload(context.Background()); err != nil {
		return hint(err)
	}
	fmt.Fprintln(stdout, "reloaded")
	return nil
}
