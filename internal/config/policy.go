package config

import (
	"errors"
	"fmt"

	"github.com/edged/edged/limits"
)

// Policy returns the function's limits as a limits.Policy with defaults
// applied (fields left zero, as in a hand-built Function, get limits'
// defaults). It returns an error if an allowed_hosts entry does not parse
// (the error names it, "allowed_hosts[2]: ...") or if the policy fails
// limits.Policy.Validate. A Function from a decoded Config never fails.
func (f Function) Policy() (limits.Policy, error) {
	pol, errs := f.policy("")
	if len(errs) > 0 {
		return limits.Policy{}, errors.Join(errs...)
	}
	if err := pol.Validate(); err != nil {
		return limits.Policy{}, fmt.Errorf("function policy: %w", err)
	}
	return pol, nil
}

// policy builds the Policy and returns one *FieldError per bad pattern,
// with prefix ("functions.NAME.") in front of the key.
func (f Function) policy(prefix string) (limits.Policy, []error) {
	var errs []error
	var allow []limits.Pattern
	if len(f.AllowedHosts) > 0 {
		allow = make([]limits.Pattern, 0, len(f.AllowedHosts))
	}
	for i, h := range f.AllowedHosts {
		pat, err := limits.ParsePattern(h)
		if err != nil {
			errs = append(errs, &FieldError{Path: fmt.Sprintf("%sallowed_hosts[%d]", prefix, i), Err: err})
			continue
		}
		allow = append(allow, pat)
	}
	pol := limits.Policy{
		Timeout:         f.Timeout.Std(),
		Memory:          f.Memory,
		MaxRequestBody:  f.MaxRequestBody,
		MaxResponseBody: f.MaxResponseBody,
		MaxLogBytes:     f.MaxLogBytes,
		Egress: limits.Egress{
			Allow:             allow,
			MaxSubrequests:    f.MaxSubrequests,
			SubrequestTimeout: f.SubrequestTimeout.Std(),
			MaxSubrequestBody: f.MaxSubrequestBody,
		},
	}
	return pol.WithDefaults(), errs
}
