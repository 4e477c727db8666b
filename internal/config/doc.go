// Package config reads edged's router.toml into validated, defaulted structs.
//
// The life of a configuration file is: decode strictly (a key the structs do
// not know is an error, so a typo never silently does nothing), apply the
// defaults in one place (applyDefaults), validate everything, and only then
// resolve relative paths against the file's directory. Validation reports
// every problem at once, each as a *FieldError naming its key path
// ("routes[3].weight: must be between 0 and 100"), joined with errors.Join,
// so that `edged validate` can list them all in one run. A value of the wrong
// type is one of those problems, with its line; only a TOML syntax error stops
// decoding early and is reported alone, with its line.
//
// An invalid file never yields a Config: Load and Decode return either a
// Config that passed validation or a nil Config and an error. A returned
// Config is a plain value that the caller owns; nothing in this package keeps
// a reference to it or mutates it later, so it is safe to share read-only
// between goroutines.
//
// Values that come from outside the file are not read here: secrets are
// named by [secrets.NAME] with env or file, and the daemon reads them when it
// wires a function; modules are only checked to exist (or, for url, to be
// pinned by sha256), and the isolate package loads them.
//
// Key names are the contract of docs/configuration.md, which lists every key
// with its default and bounds (a test fails when a key is missing there); the
// quick-start router.toml at the repository root is the commented example.
package config
