package fleet

import (
	"errors"
	"fmt"
	"strings"
)

// routeKeyPrefix starts every route key of the routes bucket, so that the
// bucket's other keys (metaImport) never read as a route and a watch of
// "route.*" sees routes only.
const routeKeyPrefix = "route."

// metaImport is the key the first node creates (kv.Create) before it imports
// its migrations.json, so that two nodes finding the bucket empty import
// once. It cannot collide with a route key: those start with routeKeyPrefix.
const metaImport = "meta.import"

// RouteKey returns the key of a route's state in the routes bucket: "route."
// followed by the name with every byte outside [A-Za-z0-9_-] written as =XX
// (two upper-case hex digits). A KV key is a NATS subject, where '.' separates
// tokens and may not lead, trail or repeat; route names may hold dots, so
// they are escaped, and '=' too, which keeps the encoding one-to-one.
func RouteKey(name string) string {
	var b strings.Builder
	b.Grow(len(routeKeyPrefix) + len(name))
	b.WriteString(routeKeyPrefix)
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		c := name[i]
		if keyByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// ErrNotRouteKey is matched by RouteName's errors.
var ErrNotRouteKey = errors.New("not a route key")

// RouteName is the inverse of RouteKey. It refuses what RouteKey never
// writes (lower-case hex, an escaped byte that needs no escape), so every
// name has exactly one key.
func RouteName(key string) (string, error) {
	rest, ok := strings.CutPrefix(key, routeKeyPrefix)
	if !ok || rest == "" {
		return "", fmt.Errorf("%w: %q", ErrNotRouteKey, key)
	}
	out := make([]byte, 0, len(rest))
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case keyByte(c):
			out = append(out, c)
		case c == '=' && i+2 < len(rest):
			hi, lo := unhex(rest[i+1]), unhex(rest[i+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("%w: %q: bad escape at %d", ErrNotRouteKey, key, i)
			}
			d := byte(hi<<4 | lo)
			if keyByte(d) {
				return "", fmt.Errorf("%w: %q: needless escape at %d", ErrNotRouteKey, key, i)
			}
			out = append(out, d)
			i += 2
		default:
			return "", fmt.Errorf("%w: %q: byte %q at %d", ErrNotRouteKey, key, c, i)
		}
	}
	return string(out), nil
}

// unhex reads an upper-case hex digit; -1 for anything else.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
