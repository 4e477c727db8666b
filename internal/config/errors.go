package config

import "errors"

// Sentinel errors that callers may branch on with errors.Is; they are
// wrapped in a *FieldError naming the key.
var (
	// ErrUnknownKey: the file has a key that edged does not know (often a
	// typo). Strict decoding makes it an error so it cannot silently do
	// nothing.
	ErrUnknownKey = errors.New("unknown key")
	// ErrUndefined: a name refers to an [upstreams.X], [functions.X] or
	// [secrets.X] that the file does not define.
	ErrUndefined = errors.New("not defined")
)

// FieldError is one validation problem at one key path, such as
// "routes[3].weight" or "functions.hello.timeout". Route indexes count from
// 0 in file order. Decode and Load join every FieldError they find with
// errors.Join; use errors.As to get at one. A missing module file wraps
// fs.ErrNotExist.
type FieldError struct {
	Path string // key path in the file
	Err  error  // what is wrong with it
}

// Error returns "path: problem".
func (e *FieldError) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *FieldError) Unwrap() error { return e.Err }
