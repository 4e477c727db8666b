package isolate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Publisher publishes the events guests send with edged.publish. The daemon
// backs it with its events server (a CloudEvent of type ceType, data as its
// body, stored by JetStream before Publish returns); isolate knows nothing of
// NATS. Publish is called from many invocations at once and must honour ctx,
// which ends with the invocation's deadline. An error means the event was not
// published; the guest sees PUBLISH_FAILED.
type Publisher interface {
	Publish(ctx context.Context, subject, ceType string, data []byte) error
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(ctx context.Context, subject, ceType string, data []byte) error

// Publish calls f.
func (f PublisherFunc) Publish(ctx context.Context, subject, ceType string, data []byte) error {
	return f(ctx, subject, ceType, data)
}

// Defaults of FunctionOptions' publish budget, defined once.
const (
	// DefaultMaxPublishes is how many edged.publish calls one invocation may
	// make: enough to fan a job out into pieces, not enough to flood a queue
	// from a loop.
	DefaultMaxPublishes = 64
	// DefaultMaxPublishBytes bounds the data of one invocation's publishes,
	// summed; it is also the largest single event (the default body cap of a
	// trigger, so what is published can be delivered).
	DefaultMaxPublishBytes = 1 << 20
)

// Bounds on what a guest may pass to publish. maxSubjectLen matches the
// events package's bound on subjects; maxCETypeLen is well under its 1 KiB
// bound on attributes.
const (
	maxSubjectLen = 256
	maxCETypeLen  = 256
)

// Error codes of publish beyond those it shares with fetch (docs/abi.md).
const (
	publishErrUnavailable = -9
	publishErrFailed      = -10
)

// checkSubject reports whether s is a NATS subject (wildcards only when
// pattern): dot-separated non-empty tokens of printable ASCII without
// spaces, not starting with '$' (NATS's own API and key-value buckets), at
// most 256 bytes; in a pattern a token may be `*` and the last one `>`. It
// is the events package's rule, restated because isolate does not depend on
// NATS; the publisher checks again.
func checkSubject(s string, pattern bool) error {
	if s == "" || len(s) > maxSubjectLen {
		return fmt.Errorf("subject must be 1-%d bytes", maxSubjectLen)
	}
	if s[0] == '$' {
		return fmt.Errorf("subject %q: subjects starting with '$' are reserved", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("subject %q: byte 0x%02x not allowed", s, c)
		}
	}
	tokens := strings.Split(s, ".")
	for i, tok := range tokens {
		switch {
		case tok == "":
			return fmt.Errorf("subject %q: empty token", s)
		case tok == "*" || tok == ">":
			if !pattern {
				return fmt.Errorf("subject %q: wildcard %q not allowed", s, tok)
			}
			if tok == ">" && i != len(tokens)-1 {
				return fmt.Errorf("subject %q: '>' must be the last token", s)
			}
		case strings.ContainsAny(tok, "*>"):
			return fmt.Errorf("subject %q: wildcard inside token %q", s, tok)
		}
	}
	return nil
}

// subjectMatches reports whether the valid subject is matched by the valid
// pattern: `*` matches exactly one token, a final `>` one or more.
func subjectMatches(pattern, subject string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		st, srest, smore := strings.Cut(subject, ".")
		switch {
		case pt == ">":
			return true // subject is valid, so st is a non-empty token
		case pt != "*" && pt != st:
			return false
		case !pmore || !smore:
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}

// checkPublishOptions validates FunctionOptions' publish fields.
func checkPublishOptions(opts FunctionOptions) error {
	var errs []error
	for i, p := range opts.Publish {
		if err := checkSubject(p, true); err != nil {
			errs = append(errs, fmt.Errorf("publish[%d]: %w", i, err))
		}
	}
	if opts.MaxPublishes < 0 {
		errs = append(errs, errors.New("max publishes must be >= 0"))
	}
	if opts.MaxPublishBytes < 0 {
		errs = append(errs, errors.New("max publish bytes must be >= 0"))
	}
	return errors.Join(errs...)
}

// publishAllowed reports whether subject is a valid subject one of the
// function's patterns matches.
func (f *Function) publishAllowed(subject string) bool {
	if checkSubject(subject, false) != nil {
		return false
	}
	for _, p := range f.opts.Publish {
		if subjectMatches(p, subject) {
			return true
		}
	}
	return false
}

// validCEType reports whether t can be a CloudEvents type attribute (an HTTP
// header value on delivery): 1-256 bytes of printable ASCII.
func validCEType(t []byte) bool {
	if len(t) == 0 || len(t) > maxCETypeLen {
		return false
	}
	for _, c := range t {
		if c < ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// ePublish is edged.publish(subject, subject_len, ce_type, ce_type_len,
// data, data_len) -> i32: 0 once the publisher has stored the event, or an
// error code. Checks, in order: the arguments (INVALID), a publisher and an
// invocation (UNAVAILABLE), the call budget (BUDGET; every call that gets
// this far uses one, so a guest cannot flood the log with denials), the
// allow-list (EGRESS_DENIED), the data size (TOO_LARGE alone over the byte
// budget, BUDGET over what is left of it).
func ePublish(inst *instance, stack []uint64) {
	f := inst.fn
	subjPtr, subjLen := uint32(stack[0]), uint32(stack[1])
	typePtr, typeLen := uint32(stack[2]), uint32(stack[3])
	dataPtr, dataLen := uint32(stack[4]), uint32(stack[5])
	// Lengths are checked before guest memory is touched; bytes() then
	// traps on a range outside memory, as for every other call.
	if subjLen == 0 || subjLen > maxSubjectLen || typeLen == 0 || typeLen > maxCETypeLen {
		ret32(stack, fetchErrInvalid)
		return
	}
	subject := string(inst.bytes(subjPtr, subjLen))
	ceType := inst.bytes(typePtr, typeLen)
	if checkSubject(subject, false) != nil || !validCEType(ceType) {
		ret32(stack, fetchErrInvalid)
		return
	}
	if f.opts.Publisher == nil || inst.req == nil {
		ret32(stack, publishErrUnavailable)
		return
	}
	if inst.publishes >= f.opts.MaxPublishes {
		ret32(stack, fetchErrBudget)
		return
	}
	inst.publishes++
	if !f.publishAllowed(subject) {
		f.log.LogAttrs(context.Background(), slog.LevelWarn, "guest publish denied: subject not in the function's publish list",
			inst.logAttrs(slog.String("subject", subject))...)
		ret32(stack, fetchErrDenied)
		return
	}
	switch {
	case int64(dataLen) > f.opts.MaxPublishBytes:
		ret32(stack, fetchErrTooLarge)
		return
	case int64(dataLen) > f.opts.MaxPublishBytes-inst.publishBytes:
		ret32(stack, fetchErrBudget)
		return
	}
	inst.publishBytes += int64(dataLen)
	// The publisher may keep the data after the guest runs again: copy it.
	data := slices.Clone(inst.bytes(dataPtr, dataLen))
	typ := string(ceType)

	callCtx := inst.callCtx
	if callCtx == nil {
		callCtx = context.Background()
	}
	ctx, cancel := context.WithDeadline(callCtx, f.rt.epoch.Add(time.Duration(inst.deadline)))
	defer cancel()
	if t := inst.trace; t != nil && t.Publish != nil {
		if tp, ts := t.Publish(); tp != "" {
			ctx = context.WithValue(ctx, publishTraceKey{}, publishTrace{tp, ts})
		}
	}
	// Waiting for the store does not use a core: give the execution slot to
	// another guest meanwhile, as fetch does.
	inst.offCore()
	err := f.opts.Publisher.Publish(ctx, subject, typ, data)
	inst.onCore()
	if err != nil {
		f.log.LogAttrs(context.Background(), slog.LevelWarn, "guest publish failed",
			inst.logAttrs(slog.String("subject", subject), slog.Any("error", err))...)
		ret32(stack, publishErrFailed)
		return
	}
	ret32(stack, 0)
}
