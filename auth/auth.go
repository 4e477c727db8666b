package auth

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/edged/edged/internal/fieldname"
)

// Default values of Options fields left zero.
const (
	DefaultClockSkew     = 60 * time.Second
	DefaultMaxTokenBytes = 8 << 10
	DefaultHeaderPrefix  = "X-Edged-Auth-"
	DefaultRealm         = "edged"
)

const (
	maxAuthClockSkew     = 10 * time.Minute
	maxAuthTokenBytes    = 64 << 10
	minAuthTokenBytes    = 256
	maxForwardClaims     = 32
	maxIdentityValueLen  = 1024 // bytes of one identity header value
	maxIdentityScopesLen = 4096
)

// Sentinel errors in Result.Err, for metrics and logs; match with errors.Is.
var (
	// ErrMissing: the request carries no credential.
	ErrMissing = errors.New("auth: no credentials")
	// ErrInvalid: a credential is present but not accepted (unknown key,
	// bad signature, expired, wrong issuer…; Result.Reason says which).
	ErrInvalid = errors.New("auth: invalid credentials")
	// ErrScope: the credential is valid but lacks a required scope.
	ErrScope = errors.New("auth: insufficient scope")
)

// Options configures an Authenticator. At least one of APIKeyFile,
// JWTKeyFile, JWTSecretFile or JWKSFile must be set. The options are copied by
// New; files are read there and again by Reload.
type Options struct {
	// APIKeyFile is the path of the hashed API key file (format in
	// keys.go: "sha256:<hex> name [scope ...]" per line; see
	// KeyLine). Empty: API keys are not accepted.
	APIKeyFile string

	// JWTKeyFile is a PEM file of RS256/ES256 public keys ("PUBLIC KEY",
	// "RSA PUBLIC KEY" or "CERTIFICATE" blocks; RSA at least 2048 bits, EC on
	// P-256). A block's optional "kid" PEM header restricts it to tokens with
	// that kid; blocks without one are tried for any token of their algorithm.
	JWTKeyFile string
	// JWTSecretFile holds the HS256 secret: the file's bytes less trailing
	// whitespace, at least 32 bytes. A PEM file is refused.
	JWTSecretFile string
	// JWKSFile is a JWK Set JSON file ({"keys":[...]}) with RSA, EC P-256 and
	// oct keys, looked up by the token's kid. Keys for other algorithms or for
	// encryption are skipped.
	JWKSFile string

	// JWTAlgorithms lists the accepted algorithms, among HS256, RS256 and
	// ES256; anything else, "none" included, is a configuration error, and
	// each listed algorithm needs a key of its kind. Empty: every algorithm
	// for which a key is configured.
	JWTAlgorithms []string
	// Issuer is the required "iss" claim. Required when JWTs are accepted.
	Issuer string
	// Audience must appear in the "aud" claim. Required when JWTs are accepted.
	Audience string
	// ClockSkew is the leeway for exp, nbf and iat. Zero means 60s; at most 10m.
	ClockSkew time.Duration
	// MaxTokenBytes bounds a bearer token; longer ones are refused before
	// any parsing. Zero means 8 KiB; from 256 B to 64 KiB.
	MaxTokenBytes int

	// ForwardClaims names the JWT claims copied into <prefix>Claim-<Name>
	// headers (for example "email", "tenant"). String, number and boolean
	// claims are copied, arrays of them joined with ", "; objects are not.
	// Values lose control characters and are cut at 1024 bytes.
	ForwardClaims []string
	// HeaderPrefix starts every identity header name; inbound headers with
	// this prefix are deleted. Zero means "X-Edged-Auth-".
	HeaderPrefix string
	// Realm is the realm of WWW-Authenticate challenges. Zero means "edged".
	Realm string

	// JWTCacheEntries caps the verified-token cache: a token that passed
	// every check is remembered by its SHA-256, so a client reusing it skips
	// the signature check (40-90 µs of CPU for RS256/ES256 on a 2-core
	// machine; about 1 µs for a hit) on later requests. An
	// entry is used until the token's exp or JWTCacheTTL after verification,
	// whichever is first; a full cache evicts the entries expiring soonest;
	// Reload starts an empty cache with the new keys. Each entry costs about
	// 200 bytes plus the token's subject, scopes and forwarded claims (at most
	// about MaxTokenBytes). Zero means DefaultJWTCacheEntries (4096); negative
	// turns the cache off; at most 1<<20.
	JWTCacheEntries int
	// JWTCacheTTL bounds how long a cached verification is reused. Zero
	// means DefaultJWTCacheTTL (1m); at most 1h.
	JWTCacheTTL time.Duration

	// Now returns the current time for token validation. Nil means time.Now.
	Now func() time.Time
}

// Result is the outcome of Authenticate. When OK is false the caller
// answers Status with the WWW-Authenticate header and does not forward the
// request. Strings and slices are shared and must not be modified.
type Result struct {
	// OK reports that the request is authenticated and has every required scope.
	OK bool
	// Status is 0 when OK, else 401 (missing or invalid credential) or 403
	// (a required scope is missing).
	Status int
	// WWWAuthenticate is the challenge to send with Status; empty when OK.
	WWWAuthenticate string
	// Err is ErrMissing, ErrInvalid or ErrScope on failure, else nil.
	Err error
	// Reason is a short fixed description of a failure (also in the
	// challenge's error_description); empty when OK.
	Reason string

	// Method is "jwt" or "api-key" once a credential was verified (also set
	// on a 403).
	Method string
	// Subject is the JWT "sub" claim (as in the token; the header copy is
	// sanitised) or the API key's name: a stable id for per-client rate limits.
	Subject string
	// KeyName is the API key's name; empty for JWTs.
	KeyName string
	// Scopes are the granted scopes.
	Scopes []string
}

// Authenticator checks credentials per request. It is safe for concurrent
// use: Authenticate reads an immutable snapshot of the keys that Reload
// replaces atomically.
type Authenticator struct {
	opts     Options
	prefix   []byte
	hdr      authHeaderNames
	fails    [failCount]Result
	state    atomic.Pointer[authState]
	needJWT  bool
	needKeys bool
}

// authState is one load of the key files.
type authState struct {
	apiKeys map[[32]byte]*apiKeyEntry // nil: API keys not accepted
	jwt     *jwtVerifier              // nil: JWTs not accepted
}

type authHeaderNames struct {
	method, sub, key, scope []byte
	claims                  [][]byte // parallel to opts.ForwardClaims
}

// New validates o, reporting every problem at once with its
// field name, and loads the key files.
func New(o Options) (*Authenticator, error) {
	o = o.withDefaults()
	a := &Authenticator{
		opts:     o,
		needKeys: o.APIKeyFile != "",
		needJWT:  o.JWTKeyFile != "" || o.JWTSecretFile != "" || o.JWKSFile != "",
	}
	if errs := o.problems(a.needKeys, a.needJWT); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	a.prepare()
	st, err := a.load()
	if err != nil {
		return nil, err
	}
	a.state.Store(st)
	return a, nil
}

// withDefaults returns a copy of o with the Default* values in its zero fields,
// and its slices its own, so the caller's later changes do not reach it.
func (o Options) withDefaults() Options {
	o.JWTAlgorithms = slices.Clone(o.JWTAlgorithms)
	o.ForwardClaims = slices.Clone(o.ForwardClaims)
	if o.ClockSkew == 0 {
		o.ClockSkew = DefaultClockSkew
	}
	if o.MaxTokenBytes == 0 {
		o.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if o.HeaderPrefix == "" {
		o.HeaderPrefix = DefaultHeaderPrefix
	}
	if o.Realm == "" {
		o.Realm = DefaultRealm
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.JWTCacheEntries == 0 {
		o.JWTCacheEntries = DefaultJWTCacheEntries
	}
	if o.JWTCacheTTL == 0 {
		o.JWTCacheTTL = DefaultJWTCacheTTL
	}
	return o
}

// problems returns every problem of o (defaults applied) apart from the key
// files, each naming its field; needKeys and needJWT say which credentials are
// accepted.
func (o Options) problems(needKeys, needJWT bool) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("auth.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !needKeys && !needJWT {
		bad("api_key_file", "set an API key file or a JWT key source (jwt_key_file, jwt_secret_file, jwks_file)")
	}
	for i, alg := range o.JWTAlgorithms {
		if _, ok := jwtAlgorithms[alg]; !ok {
			bad(fmt.Sprintf("jwt_algorithms[%d]", i), "%q is not accepted; use HS256, RS256 or ES256", alg)
		}
	}
	if needJWT {
		if o.Issuer == "" {
			bad("issuer", "required when JWTs are accepted")
		}
		if o.Audience == "" {
			bad("audience", "required when JWTs are accepted")
		}
	} else if o.Issuer != "" || o.Audience != "" || len(o.JWTAlgorithms) > 0 {
		bad("jwt_algorithms", "JWT settings without a JWT key source")
	}
	if o.ClockSkew < 0 || o.ClockSkew > maxAuthClockSkew {
		bad("clock_skew", "must be between 0 and %v", maxAuthClockSkew)
	}
	if o.MaxTokenBytes < minAuthTokenBytes || o.MaxTokenBytes > maxAuthTokenBytes {
		bad("max_token_bytes", "must be between %d and %d", minAuthTokenBytes, maxAuthTokenBytes)
	}
	if !authToken(o.HeaderPrefix) || len(o.HeaderPrefix) < 3 || len(o.HeaderPrefix) > 64 {
		bad("header_prefix", "%q must be 3-64 header-name characters", o.HeaderPrefix)
	}
	for _, std := range []string{"Authorization", "X-API-Key", "Host", "Content-Type", "Content-Length", "Cookie", "Connection", "User-Agent", "Transfer-Encoding", "Trailer"} {
		if hasIdentityPrefix([]byte(std), []byte(o.HeaderPrefix)) {
			bad("header_prefix", "%q would strip the %s header", o.HeaderPrefix, std)
		}
	}
	if strings.ContainsAny(o.Realm, "\"\\") || !authPrintable(o.Realm) {
		bad("realm", "%q must be printable ASCII without '\"' and '\\'", o.Realm)
	}
	if o.JWTCacheEntries > maxJWTCacheEntries {
		bad("jwt_cache_entries", "at most %d", maxJWTCacheEntries)
	}
	if o.JWTCacheTTL < 0 || o.JWTCacheTTL > maxJWTCacheTTL {
		bad("jwt_cache_ttl", "must be between 0 and %v", maxJWTCacheTTL)
	}
	if len(o.ForwardClaims) > maxForwardClaims {
		bad("forward_claims", "at most %d", maxForwardClaims)
	}
	seen := make(map[string]bool)
	for i, c := range o.ForwardClaims {
		if !authToken(c) || len(c) > 64 {
			bad(fmt.Sprintf("forward_claims[%d]", i), "%q must be 1-64 header-name characters", c)
		}
		if seen[strings.ToLower(c)] {
			bad(fmt.Sprintf("forward_claims[%d]", i), "%q listed twice", c)
		}
		seen[strings.ToLower(c)] = true
	}
	return errs
}

// prepare builds, once, what every request uses from the options: the identity
// header names and the refusals.
func (a *Authenticator) prepare() {
	p := a.opts.HeaderPrefix
	a.prefix = []byte(p)
	a.hdr = authHeaderNames{
		method: []byte(p + "Method"), sub: []byte(p + "Sub"),
		key: []byte(p + "Key"), scope: []byte(p + "Scope"),
	}
	for _, c := range a.opts.ForwardClaims {
		a.hdr.claims = append(a.hdr.claims, []byte(p+"Claim-"+authCanonical(c)))
	}
	for f, text := range authFailureText {
		a.fails[authFailure(f)] = a.failure(authFailure(f), text)
	}
}

// Reload re-reads every key file and swaps the new keys in atomically;
// requests in flight finish with the keys they started with. On any error
// the old keys stay in use and every problem is returned.
func (a *Authenticator) Reload() error {
	st, err := a.load()
	if err != nil {
		return fmt.Errorf("auth reload (old keys kept): %w", err)
	}
	a.state.Store(st)
	return nil
}

func (a *Authenticator) load() (*authState, error) {
	st := &authState{}
	var errs []error
	if a.needKeys {
		keys, err := loadAPIKeyFile(a.opts.APIKeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.api_key_file: %w", err))
		}
		st.apiKeys = keys
	}
	if a.needJWT {
		v, err := a.newVerifier()
		if err != nil {
			errs = append(errs, err)
		}
		st.jwt = v
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return st, nil
}

func (a *Authenticator) newVerifier() (*jwtVerifier, error) {
	keys, err := loadJWTKeys(&a.opts)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	// A new key load gets a new, empty cache: nothing verified with rotated-out
	// keys survives a reload.
	v := &jwtVerifier{keys: newJWTKeySet(keys), cache: newJWTCache(a.opts.JWTCacheEntries, a.opts.JWTCacheTTL)}
	var have [famCount]bool
	for _, k := range keys {
		have[k.fam] = true
	}
	var errs []error
	if len(a.opts.JWTAlgorithms) == 0 {
		v.allowed = have
	}
	for i, alg := range a.opts.JWTAlgorithms {
		fam := jwtAlgorithms[alg]
		if !have[fam] {
			errs = append(errs, fmt.Errorf("auth.jwt_algorithms[%d]: no %s key configured", i, alg))
		}
		v.allowed[fam] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var methods []string
	for f := range famCount {
		if v.allowed[f] {
			methods = append(methods, familyAlg[f])
		}
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithIssuer(a.opts.Issuer),
		jwt.WithAudience(a.opts.Audience),
		jwt.WithLeeway(a.opts.ClockSkew),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(a.opts.Now),
	)
	return v, nil
}

// Authenticate deletes every inbound identity header and every Connection
// token naming one, then checks the request's credential and, when it is valid
// and grants every scope in requiredScopes, sets the identity headers on
// ctx.Request. Call it for every
// request of a route that requires authentication; on routes that do not,
// call StripIdentityHeaders instead so identities cannot be forged there.
// An API key is checked without allocating; a JWT costs a signature check.
func (a *Authenticator) Authenticate(ctx *fasthttp.RequestCtx, requiredScopes []string) Result {
	h := &ctx.Request.Header
	StripIdentityHeaders(h, a.prefix)
	st := a.state.Load()

	var authz, xKey []byte
	var nAuthz, nXKey int
	for k, v := range h.All() {
		switch {
		case fieldname.Equal(k, "Authorization"):
			authz, nAuthz = v, nAuthz+1
		case fieldname.Equal(k, "X-API-Key"):
			xKey, nXKey = v, nXKey+1
		case fieldname.Equal(k, "Connection"):
			// Hop-by-hop names go before the identity is added: the proxy strips
			// every field Connection names, and the identity is not the
			// client's to remove (the forged fields it could name are gone).
			fieldname.BlankTokens(v, func(tok []byte) bool { return hasIdentityPrefix(tok, a.prefix) })
		}
	}
	switch {
	case nAuthz+nXKey == 0:
		return a.fails[failMissing]
	case nAuthz+nXKey > 1:
		return a.fails[failMultiple]
	case nXKey == 1:
		return a.checkAPIKey(h, st, bytes.TrimSpace(xKey), requiredScopes)
	}
	scheme, cred, _ := bytes.Cut(bytes.TrimSpace(authz), []byte{' '})
	cred = bytes.TrimSpace(cred)
	switch {
	case fieldname.Equal(scheme, "Bearer"):
		return a.checkJWT(h, st, cred, requiredScopes)
	case fieldname.Equal(scheme, "ApiKey"):
		return a.checkAPIKey(h, st, cred, requiredScopes)
	}
	return a.fails[failScheme]
}

func (a *Authenticator) checkAPIKey(h *fasthttp.RequestHeader, st *authState, key []byte, required []string) Result {
	if st.apiKeys == nil {
		return a.fails[failNoAPIKeys]
	}
	if !validAPIKey(key) {
		return a.fails[failBadAPIKey]
	}
	sum := sha256.Sum256(key)
	// Keys are found by the SHA-256 of the presented key, so what the map's
	// comparisons could leak through timing is how the hash of the caller's
	// own guess relates to stored hashes: learning a stored hash's bytes does
	// not help to find a key that has it (preimage resistance). This is the
	// constant-time property that matters, at O(1) instead of a scan.
	e, ok := st.apiKeys[sum]
	if !ok {
		return a.fails[failBadAPIKey]
	}
	res := Result{Method: "api-key", Subject: e.nameStr, KeyName: e.nameStr, Scopes: e.scopes}
	if !hasScopes(e.scopes, required) {
		return a.scopeFailure(res, required)
	}
	h.SetCanonical(a.hdr.method, []byte("api-key"))
	h.SetCanonical(a.hdr.sub, e.name)
	h.SetCanonical(a.hdr.key, e.name)
	if len(e.scopeValue) > 0 {
		h.SetCanonical(a.hdr.scope, e.scopeValue)
	}
	res.OK = true
	return res
}

func (a *Authenticator) checkJWT(h *fasthttp.RequestHeader, st *authState, tok []byte, required []string) Result {
	if st.jwt == nil {
		return a.fails[failNoJWT]
	}
	if len(tok) > a.opts.MaxTokenBytes {
		return a.fails[failTooLarge]
	}
	if len(tok) == 0 {
		return a.fails[failMalformed]
	}
	v := st.jwt
	var sum [32]byte
	var now int64
	if v.cache != nil {
		sum = sha256.Sum256(tok)
		now = a.opts.Now().UnixNano()
		if id := v.cache.get(&sum, now); id != nil {
			return a.grantJWT(h, id, required)
		}
	}
	claims, err := v.verify(string(tok))
	if err != nil {
		return a.fails[jwtFailure(err)]
	}
	id := a.newJWTIdentity(claims)
	if v.cache != nil {
		// exp is required by the parser, so it is present here.
		if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
			v.cache.put(&sum, id, exp.UnixNano(), now)
		}
	}
	return a.grantJWT(h, id, required)
}

// newJWTIdentity builds the identity of verified claims, header values included.
func (a *Authenticator) newJWTIdentity(claims jwt.MapClaims) *jwtIdentity {
	sub := claims["sub"].(string) // verify checked it
	id := &jwtIdentity{sub: sub, scopes: jwtScopes(claims)}
	id.subHdr = appendSanitized(nil, sub, maxIdentityValueLen)
	if len(id.scopes) > 0 {
		var buf []byte
		for i, s := range id.scopes {
			if i > 0 {
				buf = append(buf, ' ')
			}
			buf = appendSanitized(buf, s, maxIdentityScopesLen-len(buf))
		}
		id.scopeHdr = buf
	}
	if len(a.opts.ForwardClaims) > 0 {
		id.claims = make([][]byte, len(a.opts.ForwardClaims))
		for i, name := range a.opts.ForwardClaims {
			if b, ok := appendClaim(nil, claims[name]); ok {
				id.claims[i] = append(make([]byte, 0, len(b)), b...) // non-nil even when empty
			}
		}
	}
	return id
}

// grantJWT checks the identity's scopes and sets its identity headers on h.
// It does not allocate.
func (a *Authenticator) grantJWT(h *fasthttp.RequestHeader, id *jwtIdentity, required []string) Result {
	res := Result{Method: "jwt", Subject: id.sub, Scopes: id.scopes}
	if !hasScopes(res.Scopes, required) {
		return a.scopeFailure(res, required)
	}
	h.SetCanonical(a.hdr.method, []byte("jwt"))
	h.SetCanonical(a.hdr.sub, id.subHdr)
	if len(id.scopes) > 0 {
		h.SetCanonical(a.hdr.scope, id.scopeHdr)
	}
	for i, v := range id.claims {
		if v != nil {
			h.SetCanonical(a.hdr.claims[i], v)
		}
	}
	res.OK = true
	return res
}

// appendClaim formats a forwarded claim value; ok is false for absent or
// unsupported (object, null) values.
func appendClaim(dst []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case string:
		return appendSanitized(dst, x, maxIdentityValueLen), true
	case float64:
		return strconv.AppendFloat(dst, x, 'f', -1, 64), true
	case bool:
		return strconv.AppendBool(dst, x), true
	case []any:
		n := 0
		for _, e := range x {
			var s string
			switch y := e.(type) {
			case string:
				s = y
			case float64:
				s = strconv.FormatFloat(y, 'f', -1, 64)
			case bool:
				s = strconv.FormatBool(y)
			default:
				continue
			}
			if n > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendSanitized(dst, s, maxIdentityValueLen-len(dst))
			n++
		}
		return dst, n > 0
	}
	return dst, false
}

// appendSanitized appends s less its control characters (CR, LF, NUL and
// the rest of C0 and DEL, but not tab) and invalid UTF-8, at most limit bytes,
// cut on a character boundary.
func appendSanitized(dst []byte, s string, limit int) []byte {
	n := 0
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 && r != '\t' || r == 0x7f {
			continue
		}
		l := utf8.RuneLen(r)
		if n+l > limit {
			break
		}
		dst = utf8.AppendRune(dst, r)
		n += l
	}
	return dst
}

func hasScopes(have, required []string) bool {
	for _, r := range required {
		if !slices.Contains(have, r) {
			return false
		}
	}
	return true
}

func (a *Authenticator) scopeFailure(res Result, required []string) Result {
	res.Status = 403
	res.Err = ErrScope
	res.Reason = "token lacks a required scope"
	res.WWWAuthenticate = `Bearer realm="` + a.opts.Realm + `", error="insufficient_scope", error_description="` +
		res.Reason + `", scope="` + strings.Join(required, " ") + `"`
	return res
}

// StripIdentityHeaders deletes every header of h whose name starts with
// prefix, compared without regard to letter case (the server keeps header
// names as clients spelled them) and with '-' and '_' taken as equal (CGI,
// WSGI and PHP upstreams turn both into '_'), and returns how many it deleted. It does
// not allocate when there is nothing to delete. Call it on every request that
// does not go through Authenticate, with the Authenticator's HeaderPrefix.
func StripIdentityHeaders(h *fasthttp.RequestHeader, prefix []byte) int {
	n := 0
	var name [128]byte
	// Each pass deletes one spelling (and all its copies); the bound only
	// guards against a name DelBytes cannot delete.
	for tries := h.Len() + 1; tries > 0; tries-- {
		var found []byte
		for k := range h.All() {
			if hasIdentityPrefix(k, prefix) {
				found = append(name[:0], k...)
				break
			}
		}
		if found == nil {
			break
		}
		// With name normalizing off, DelBytes matches the exact spelling,
		// which is the one just seen; with it on, both are normalized.
		h.DelBytes(found)
		n++
	}
	return n
}

// hasIdentityPrefix reports whether header name k starts with prefix, ignoring
// ASCII letter case and taking '-' and '_' as the same character.
func hasIdentityPrefix(k, prefix []byte) bool {
	if len(k) < len(prefix) {
		return false
	}
	for i, p := range prefix {
		c := k[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' {
			c = '-'
		}
		if 'A' <= p && p <= 'Z' {
			p += 'a' - 'A'
		} else if p == '_' {
			p = '-'
		}
		if c != p {
			return false
		}
	}
	return true
}

// HeaderPrefix returns the identity header prefix in use.
func (a *Authenticator) HeaderPrefix() string { return a.opts.HeaderPrefix }

// authFailure enumerates the fixed 401 answers, built once per Authenticator
// so that a refused request does not allocate.
type authFailure int

const (
	failMissing authFailure = iota
	failMultiple
	failScheme
	failNoAPIKeys
	failNoJWT
	failBadAPIKey
	failTooLarge
	failMalformed
	failAlg
	failUnknownKID
	failSignature
	failExpired
	failNotYetValid
	failIssuer
	failAudience
	failClaimMissing
	failSubject
	failInvalid
	failCount
)

var authFailureText = [failCount]string{
	failMissing:      "",
	failMultiple:     "more than one credential",
	failScheme:       "unsupported authorization scheme",
	failNoAPIKeys:    "API keys are not accepted",
	failNoJWT:        "bearer tokens are not accepted",
	failBadAPIKey:    "invalid API key",
	failTooLarge:     "token too large",
	failMalformed:    "malformed token",
	failAlg:          "algorithm not allowed",
	failUnknownKID:   "unknown key id",
	failSignature:    "invalid signature",
	failExpired:      "token expired",
	failNotYetValid:  "token not yet valid",
	failIssuer:       "wrong issuer",
	failAudience:     "wrong audience",
	failClaimMissing: "required claim missing",
	failSubject:      "missing subject",
	failInvalid:      "invalid token",
}

func (a *Authenticator) failure(f authFailure, text string) Result {
	r := Result{Status: 401, Err: ErrInvalid, Reason: text}
	if f == failMissing {
		// RFC 6750 section 3.1: no error code when no credential was sent.
		r.Err, r.Reason = ErrMissing, "no credentials"
		r.WWWAuthenticate = `Bearer realm="` + a.opts.Realm + `"`
		return r
	}
	r.WWWAuthenticate = `Bearer realm="` + a.opts.Realm + `", error="invalid_token", error_description="` + text + `"`
	return r
}

// jwtFailure maps a verification error to its answer, most specific first.
func jwtFailure(err error) authFailure {
	switch {
	case errors.Is(err, errAlgNotOK):
		return failAlg
	case errors.Is(err, errUnknownKID), errors.Is(err, errNoKeyForAlg), errors.Is(err, errBadKID):
		return failUnknownKID
	case errors.Is(err, errNoSubject):
		return failSubject
	case errors.Is(err, jwt.ErrTokenMalformed):
		return failMalformed
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return failAlg // unknown "alg" in the header
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return failSignature
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return failClaimMissing
	case errors.Is(err, jwt.ErrTokenExpired):
		return failExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return failNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return failIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return failAudience
	}
	return failInvalid
}

// authToken reports whether s is a non-empty RFC 9110 token.
func authToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func authPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// authCanonical turns a claim name into a header name part: first letter
// and each letter after '-' upper case, the rest lower ("tenant_id" ->
// "Tenant_id", "x-org" -> "X-Org").
func authCanonical(s string) string {
	b := []byte(strings.ToLower(s))
	up := true
	for i, c := range b {
		if up && c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		up = c == '-'
	}
	return string(b)
}
