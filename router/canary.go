package router

import (
	"bytes"
	"github.com/edged/edged/internal/fieldname"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"
)

// FNV-1a, 64 bit.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

func fnvBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// stickyBucket places a sticky key in one of 100 buckets. The route name salts the
// hash so that a user's side in one route's canary says nothing about another's; the
// key alone decides within a route, so raising the weight only adds buckets and a user
// once on the isolate stays there. The final mix (splitmix64's) spreads FNV's weak low
// bits before the modulo.
func stickyBucket(route string, key []byte) int {
	h := fnvString(fnvOffset, route)
	h ^= 0xff // separator: route "ab"+key "c" differs from "a"+"bc"
	h *= fnvPrime
	h = fnvBytes(h, key)
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return int(h % 100)
}

// stickyKey returns the bytes that keep ctx's user on one side of r's canary: the
// configured header or cookie, or the client address (see worldState.clientAddr) in
// scratch when that is empty or configured. It does not allocate; the slice is valid
// until the handler returns.
func stickyKey(ctx *fasthttp.RequestCtx, r *strangler.Route, ws *worldState, scratch *[16]byte) []byte {
	kind, name, err := strangler.ParseSticky(r.Sticky)
	var key []byte
	if err == nil {
		switch kind {
		case strangler.StickyHeader:
			key = peekFold(&ctx.Request.Header, name)
		case strangler.StickyCookie:
			key = cookieFold(&ctx.Request.Header, name)
		}
	}
	if len(key) == 0 {
		a := peerAddr(ctx)
		if ws != nil {
			a = ws.clientAddr(ctx)
		}
		key = appendAddrBytes(scratch[:0], a)
	}
	return key
}

// peekFold returns the first value of the header called name, compared
// case-insensitively: the server keeps header names as clients spelled them
// (DisableHeaderNamesNormalizing), so Peek would miss "X-User" for "x-user"
// and every user would share one canary bucket.
func peekFold(h *fasthttp.RequestHeader, name string) []byte {
	for k, v := range h.All() {
		if fieldname.Equal(k, name) {
			return v
		}
	}
	return nil
}

// cookieFold returns the value of the cookie called name from the Cookie
// headers, whatever their spelling. Cookie names themselves are
// case-sensitive.
func cookieFold(h *fasthttp.RequestHeader, name string) []byte {
	for k, v := range h.All() {
		if !fieldname.Equal(k, "Cookie") {
			continue
		}
		for len(v) > 0 {
			var pair []byte
			if i := bytes.IndexByte(v, ';'); i >= 0 {
				pair, v = v[:i], v[i+1:]
			} else {
				pair, v = v, nil
			}
			pair = bytes.TrimSpace(pair)
			if eq := bytes.IndexByte(pair, '='); eq >= 0 && string(pair[:eq]) == name {
				return pair[eq+1:]
			}
		}
	}
	return nil
}

// canaryPicksIsolate reports whether ctx's request goes to the isolate at r's weight.
// ws (nil: none) says which proxies may name the client.
func canaryPicksIsolate(ctx *fasthttp.RequestCtx, r *strangler.Route, ws *worldState) bool {
	switch {
	case r.Weight <= 0:
		return false
	case r.Weight >= 100:
		return true
	}
	var scratch [16]byte
	return stickyBucket(r.Name, stickyKey(ctx, r, ws, &scratch)) < r.Weight
}
