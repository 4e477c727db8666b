package daemon

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/edged/edged/internal/config"
	"github.com/edged/edged/proxy"
	"github.com/edged/edged/strangler"
)

// Validate returns every problem, joined, that would stop the daemon from
// starting with cfg beyond what config.Load checks: routes the table refuses,
// upstreams that cannot be opened, function policies that do not parse. It
// starts nothing; modules are not loaded and secrets not read.
func Validate(cfg *config.Config) error {
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
	return errors.Join(errs...)
}
