//go:build wasip1

package guest

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/edged/edged/isolate/guest/internal/abi"
)

// Level is a host log level, as in the http-wasm ABI.
type Level int32

const (
	LevelDebug Level = -1
	LevelInfo  Level = 0
	LevelWarn  Level = 1
	LevelError Level = 2
	// LevelNone is above every level: nothing logs at it.
	LevelNone Level = 3
)

// LogEnabled reports whether the host records messages at level.
func LogEnabled(level Level) bool { return hostLogEnabled(int32(level)) != 0 }

// Log writes msg with the key/value pairs kv to the host's log at level
// (edged.log_fields). kv alternates keys (strings) and values; a value is
// formatted as text (strings as is, numbers in decimal, errors by Error,
// others with fmt). A trailing key without a value gets the value "!MISSING".
// Nothing is formatted when the host does not record level. Keys and values
// containing NUL bytes have them replaced by U+FFFD.
func Log(level Level, msg string, kv ...any) {
	if !LogEnabled(level) {
		return
	}
	buf := rt.logBuf[:0]
	for i := 0; i < len(kv); i += 2 {
		key, ok := kv[i].(string)
		if !ok {
			key = fmt.Sprint(kv[i])
		}
		var val any = "!MISSING"
		if i+1 < len(kv) {
			val = kv[i+1]
		}
		buf = appendField(buf, key, val)
	}
	hostLogFields(int32(level), msg, ptr(buf), uint32(len(buf)))
	rt.logBuf = buf[:0]
}

func appendField(dst []byte, key string, val any) []byte {
	dst = appendClean(dst, key)
	dst = append(dst, 0)
	switch v := val.(type) {
	case string:
		dst = appendClean(dst, v)
	case int:
		dst = strconv.AppendInt(dst, int64(v), 10)
	case int64:
		dst = strconv.AppendInt(dst, v, 10)
	case int32:
		dst = strconv.AppendInt(dst, int64(v), 10)
	case uint64:
		dst = strconv.AppendUint(dst, v, 10)
	case bool:
		dst = strconv.AppendBool(dst, v)
	case float64:
		dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
	case time.Duration:
		dst = appendClean(dst, v.String())
	case error:
		dst = appendClean(dst, v.Error())
	case fmt.Stringer:
		dst = appendClean(dst, v.String())
	default:
		dst = appendClean(dst, fmt.Sprint(v))
	}
	return append(dst, 0)
}

func appendClean(dst []byte, s string) []byte {
	if abi.ValidString(s) {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[i])
		}
	}
	return dst
}

// LogHandler returns a slog.Handler that writes records to the host's log
// through edged.log_fields, so that slog.New(guest.LogHandler()) works in a
// guest. Levels map to the host's: below Info is debug, below Warn is info,
// below Error is warn, the rest is error. Groups prefix keys with "group.".
// The record's time is not sent: the host stamps its own.
func LogHandler() slog.Handler { return &logHandler{} }

type logHandler struct {
	prefix string // group prefix, "a.b." or ""
	attrs  []byte // pre-encoded pairs from WithAttrs
}

var _ slog.Handler = (*logHandler)(nil)

func hostLevel(l slog.Level) Level {
	switch {
	case l < slog.LevelInfo:
		return LevelDebug
	case l < slog.LevelWarn:
		return LevelInfo
	case l < slog.LevelError:
		return LevelWarn
	}
	return LevelError
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool {
	return LogEnabled(hostLevel(l))
}

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	buf := append(rt.logBuf[:0], h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		buf = appendAttr(buf, h.prefix, a)
		return true
	})
	hostLogFields(int32(hostLevel(r.Level)), r.Message, ptr(buf), uint32(len(buf)))
	rt.logBuf = buf[:0]
	return nil
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &logHandler{prefix: h.prefix, attrs: append([]byte(nil), h.attrs...)}
	for _, a := range as {
		n.attrs = appendAttr(n.attrs, h.prefix, a)
	}
	return n
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &logHandler{prefix: h.prefix + name + ".", attrs: h.attrs}
}

func appendAttr(dst []byte, prefix string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return dst
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			dst = appendAttr(dst, p, g)
		}
		return dst
	}
	return appendField(dst, prefix+a.Key, a.Value.String())
}
