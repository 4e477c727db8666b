package proxy

import (
	"bytes"

	"github.com/edged/edged/internal/fieldname"
)

// AppendOriginForm reports whether target is an absolute-form http or https request
// target (RFC 9112 3.2.2, "http://host/path?q", the scheme in any letter case). If it
// is, AppendOriginForm appends its origin-form (the path and query, with "/" in front
// when the path is empty) to dst and returns the target's authority, which aliases
// target and may be empty or hold userinfo: the caller decides what to refuse. For any
// other target it returns dst unchanged, nil and false.
//
// The router rewrites a client's absolute-form target with it before routing, and
// Upstream sends a guest's absolute-form target with it: fasthttp's client would
// otherwise fail on the scheme or turn userinfo into an Authorization header.
func AppendOriginForm(dst, target []byte) (out, authority []byte, ok bool) {
	var n int
	switch {
	case len(target) >= 7 && fieldname.Equal(target[:7], "http://"):
		n = 7
	case len(target) >= 8 && fieldname.Equal(target[:8], "https://"):
		n = 8
	default:
		return dst, nil, false
	}
	t := target[n:]
	end := bytes.IndexAny(t, "/?#")
	if end < 0 {
		end = len(t)
	}
	authority, rest := t[:end], t[end:]
	if len(rest) == 0 || rest[0] != '/' {
		dst = append(dst, '/')
	}
	return append(dst, rest...), authority, true
}
