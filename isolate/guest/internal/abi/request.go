package abi

import (
	"net/http"
	"net/url"
)

// Method returns the request method in b as a string, without allocating for
// the methods of RFC 9110 and PATCH: the SDK reads the method of every
// request, and a constant costs a guest no garbage to collect.
func Method(b []byte) string {
	// The two methods of nearly every request are compared byte by byte, in
	// a function small enough to inline: for GOARCH=wasm a call, and a
	// string comparison is one, is what a guest's time goes to.
	// (The compiler compares constants of up to 6 bytes inline.)
	if string(b) == http.MethodGet {
		return http.MethodGet
	}
	if string(b) == http.MethodPost {
		return http.MethodPost
	}
	return method(b)
}

func method(b []byte) string {
	switch string(b) { // compiled without a conversion
	case http.MethodGet:
		return http.MethodGet
	case http.MethodPost:
		return http.MethodPost
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPut:
		return http.MethodPut
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodConnect:
		return http.MethodConnect
	case http.MethodTrace:
		return http.MethodTrace
	}
	return string(b)
}

// Proto parses the protocol version in b as http.ParseHTTPVersion does,
// returning the version string too, and without allocating for HTTP/1.0,
// HTTP/1.1 and HTTP/2.0 (callers check for HTTP/1.1 inline first, see
// IsHTTP11). ok is false when b is not a valid version; proto is
// then still b as a string.
func Proto(b []byte) (proto string, major, minor int, ok bool) {
	switch string(b) {
	case "HTTP/1.1":
		return "HTTP/1.1", 1, 1, true
	case "HTTP/1.0":
		return "HTTP/1.0", 1, 0, true
	case "HTTP/2.0":
		return "HTTP/2.0", 2, 0, true
	}
	proto = string(b)
	major, minor, ok = http.ParseHTTPVersion(proto)
	return proto, major, minor, ok
}

// ParseOriginForm sets *u to url.ParseRequestURI(uri) and returns true when
// uri is a simple origin-form target: a path of unreserved characters,
// sub-delimiters other than !'()*, ':', '@' and '/', without percent-escapes,
// optionally followed by a query without control bytes. For such a target
// parsing only splits the string, and Path needs no RawPath. Otherwise it
// leaves *u alone and returns false, and the caller calls
// url.ParseRequestURI. It exists because url.ParseRequestURI costs a guest
// about a microsecond and most request targets are this simple.
func ParseOriginForm(uri string, u *url.URL) bool {
	if len(uri) == 0 || uri[0] != '/' {
		return false
	}
	i := 0
	for ; i < len(uri); i++ {
		c := uri[i]
		if c == '?' {
			break
		}
		if !pathSafe(c) {
			return false
		}
	}
	path, query := uri[:i], ""
	force := false
	if i < len(uri) {
		query = uri[i+1:]
		for j := 0; j < len(query); j++ {
			if c := query[j]; c < 0x20 || c == 0x7f {
				return false
			}
		}
		// net/url: a lone trailing '?' is ForceQuery; "??" is a query of
		// "?" and so not forced.
		force = query == ""
	}
	*u = url.URL{Path: path, RawQuery: query, ForceQuery: force}
	return true
}

// pathSafe reports whether c stands for itself in a path, both unescaped
// and escaped by net/url: then Path is the target's path and RawPath is "".
func pathSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '$', '&', '+', ',', '/', ':', ';', '=', '@':
		return true
	}
	return false
}

// IsHTTP11 reports whether b is "HTTP/1.1", without a call (see Method).
func IsHTTP11(b []byte) bool {
	return len(b) == 8 && string(b[:4]) == "HTTP" && string(b[4:]) == "/1.1"
}
