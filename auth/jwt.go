package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// keyFamily is the kind of key an algorithm needs. Each accepted algorithm
// has exactly one family, and a key is only ever offered to the algorithm of
// its family: an RSA public key is never used as an HMAC secret.
type keyFamily uint8

const (
	famHMAC  keyFamily = iota // HS256: []byte secret
	famRSA                    // RS256: *rsa.PublicKey
	famEC256                  // ES256: *ecdsa.PublicKey on P-256
	famCount
)

// jwtAlgorithms maps each accepted algorithm to its key family; anything not
// here ("none", HS384, PS256, EdDSA…) is refused.
var jwtAlgorithms = map[string]keyFamily{"HS256": famHMAC, "RS256": famRSA, "ES256": famEC256}

var familyAlg = [famCount]string{famHMAC: "HS256", famRSA: "RS256", famEC256: "ES256"}

const (
	maxJWTKeyFileBytes = 1 << 20
	maxJWTKeys         = 256
	minHMACSecretLen   = 32 // RFC 7518 section 3.2: at least the hash size
	minRSABits         = 2048
	maxKIDLen          = 256
)

var (
	errUnknownKID  = errors.New("unknown key id")
	errBadKID      = errors.New("kid header is not a short string")
	errAlgNotOK    = errors.New("algorithm not allowed")
	errNoKeyForAlg = errors.New("no key for algorithm")
	errNoSubject   = errors.New("missing sub claim")
)

// jwtKey is one verification key with its optional key id.
type jwtKey struct {
	kid string
	fam keyFamily
	key jwt.VerificationKey
}

// jwtKeySet is the immutable key material of one load, indexed for the
// keyfunc: per family, every key; the kid-less keys (tried for any kid); and
// per kid, that kid's keys followed by the kid-less ones.
type jwtKeySet struct {
	all      [famCount][]jwt.VerificationKey
	wildcard [famCount][]jwt.VerificationKey
	byKID    [famCount]map[string][]jwt.VerificationKey
}

func newJWTKeySet(keys []jwtKey) *jwtKeySet {
	s := &jwtKeySet{}
	for f := range famCount {
		s.byKID[f] = make(map[string][]jwt.VerificationKey)
	}
	for _, k := range keys {
		s.all[k.fam] = append(s.all[k.fam], k.key)
		if k.kid == "" {
			s.wildcard[k.fam] = append(s.wildcard[k.fam], k.key)
		} else {
			s.byKID[k.fam][k.kid] = append(s.byKID[k.fam][k.kid], k.key)
		}
	}
	for f := range famCount {
		for kid, ks := range s.byKID[f] {
			s.byKID[f][kid] = append(ks[:len(ks):len(ks)], s.wildcard[f]...)
		}
	}
	return s
}

// keysFor returns the keys a token with this family and kid may be checked
// against: with a kid, that kid's keys and the kid-less ones; without, every
// key of the family.
func (s *jwtKeySet) keysFor(fam keyFamily, kid string) ([]jwt.VerificationKey, error) {
	if kid == "" {
		if len(s.all[fam]) == 0 {
			return nil, errNoKeyForAlg
		}
		return s.all[fam], nil
	}
	if ks := s.byKID[fam][kid]; len(ks) > 0 {
		return ks, nil
	}
	if len(s.wildcard[fam]) > 0 {
		return s.wildcard[fam], nil
	}
	return nil, errUnknownKID
}

// loadJWTKeys reads every configured key source; every problem is reported.
func loadJWTKeys(o *Options) ([]jwtKey, error) {
	var keys []jwtKey
	var errs []error
	if o.JWTKeyFile != "" {
		data, err := readBounded(o.JWTKeyFile, maxJWTKeyFileBytes)
		if err == nil {
			var ks []jwtKey
			ks, err = parsePEMKeys(data)
			keys = append(keys, ks...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("jwt_key_file %q: %w", o.JWTKeyFile, err))
		}
	}
	if o.JWTSecretFile != "" {
		data, err := readBounded(o.JWTSecretFile, 4096)
		if err == nil {
			var secret []byte
			secret, err = parseHMACSecret(data)
			keys = append(keys, jwtKey{fam: famHMAC, key: secret})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("jwt_secret_file %q: %w", o.JWTSecretFile, err))
		}
	}
	if o.JWKSFile != "" {
		data, err := readBounded(o.JWKSFile, maxJWTKeyFileBytes)
		if err == nil {
			var ks []jwtKey
			ks, err = parseJWKS(data)
			keys = append(keys, ks...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("jwks_file %q: %w", o.JWKSFile, err))
		}
	}
	if len(keys) > maxJWTKeys {
		errs = append(errs, fmt.Errorf("more than %d JWT keys", maxJWTKeys))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return keys, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// parseHMACSecret takes the raw file bytes, less trailing whitespace. A file
// that looks like PEM is refused: pointing the secret at a public key is the
// classic algorithm-confusion mistake.
func parseHMACSecret(data []byte) ([]byte, error) {
	secret := bytes.TrimRight(data, " \t\r\n")
	if bytes.Contains(secret, []byte("-----BEGIN")) {
		return nil, errors.New("looks like a PEM key, not an HMAC secret")
	}
	if len(secret) < minHMACSecretLen {
		return nil, fmt.Errorf("HMAC secret shorter than %d bytes", minHMACSecretLen)
	}
	return bytes.Clone(secret), nil
}

// parsePEMKeys reads public keys from PEM blocks: "PUBLIC KEY" (PKIX, RSA or
// EC P-256), "RSA PUBLIC KEY" (PKCS #1) or "CERTIFICATE". A block may carry a
// "kid" PEM header; blocks without one match any kid. Private keys are refused.
func parsePEMKeys(data []byte) ([]jwtKey, error) {
	var keys []jwtKey
	var errs []error
	for i := 1; ; i++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		kid := block.Headers["kid"]
		if len(kid) > maxKIDLen {
			errs = append(errs, fmt.Errorf("block %d: kid longer than %d", i, maxKIDLen))
			continue
		}
		var pub any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = c.PublicKey
			}
		default:
			if strings.Contains(block.Type, "PRIVATE") {
				err = errors.New("is a private key; give the public key")
			} else {
				err = fmt.Errorf("unsupported PEM type %q", block.Type)
			}
		}
		if err == nil {
			var k jwtKey
			k, err = publicJWTKey(pub)
			k.kid = kid
			if err == nil {
				keys = append(keys, k)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("block %d: %w", i, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key found")
	}
	return keys, nil
}

func publicJWTKey(pub any) (jwtKey, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < minRSABits {
			return jwtKey{}, fmt.Errorf("RSA key of %d bits; at least %d", p.N.BitLen(), minRSABits)
		}
		return jwtKey{fam: famRSA, key: p}, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return jwtKey{}, fmt.Errorf("EC key on %s; ES256 needs P-256", p.Curve.Params().Name)
		}
		return jwtKey{fam: famEC256, key: p}, nil
	default:
		return jwtKey{}, fmt.Errorf("unsupported public key type %T", pub)
	}
}

// jwk is the subset of RFC 7517 fields edged reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	K   string `json:"k"`
}

// parseJWKS reads a JWK Set ({"keys": [...]}). Keys for encryption
// ("use":"enc") or for algorithms edged does not accept (another "alg", a
// curve other than P-256, OKP keys) are skipped; a malformed key of a usable
// kind is an error. Private members are ignored: only public parts are used.
func parseJWKS(data []byte) ([]jwtKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	if len(set.Keys) > maxJWTKeys {
		return nil, fmt.Errorf("more than %d keys", maxJWTKeys)
	}
	var keys []jwtKey
	var errs []error
	seen := make(map[string]bool)
	for i, j := range set.Keys {
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		var fam keyFamily
		switch j.Kty {
		case "RSA":
			fam = famRSA
		case "EC":
			if j.Crv != "P-256" {
				continue
			}
			fam = famEC256
		case "oct":
			fam = famHMAC
		default:
			continue
		}
		if j.Alg != "" && j.Alg != familyAlg[fam] {
			continue
		}
		if len(j.Kid) > maxKIDLen {
			errs = append(errs, fmt.Errorf("keys[%d]: kid longer than %d", i, maxKIDLen))
			continue
		}
		id := familyAlg[fam] + "/" + j.Kid
		if seen[id] {
			errs = append(errs, fmt.Errorf("keys[%d]: duplicate kid %q for %s", i, j.Kid, familyAlg[fam]))
			continue
		}
		seen[id] = true
		k, err := j.key(fam)
		if err != nil {
			errs = append(errs, fmt.Errorf("keys[%d] (kid %q): %w", i, j.Kid, err))
			continue
		}
		k.kid = j.Kid
		keys = append(keys, k)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable RS256, ES256 or HS256 signing key")
	}
	return keys, nil
}

func (j *jwk) key(fam keyFamily) (jwtKey, error) {
	b64 := base64.RawURLEncoding
	switch fam {
	case famRSA:
		n, err1 := b64.DecodeString(j.N)
		e, err2 := b64.DecodeString(j.E)
		if err := errors.Join(err1, err2); err != nil {
			return jwtKey{}, fmt.Errorf("decode n/e: %w", err)
		}
		if len(e) == 0 || len(e) > 4 {
			return jwtKey{}, errors.New("bad RSA exponent")
		}
		eInt := int(new(big.Int).SetBytes(e).Int64())
		if eInt < 3 || eInt%2 == 0 {
			return jwtKey{}, errors.New("bad RSA exponent")
		}
		return publicJWTKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: eInt})
	case famEC256:
		x, err1 := b64.DecodeString(j.X)
		y, err2 := b64.DecodeString(j.Y)
		if err := errors.Join(err1, err2); err != nil {
			return jwtKey{}, fmt.Errorf("decode x/y: %w", err)
		}
		if len(x) != 32 || len(y) != 32 {
			return jwtKey{}, errors.New("P-256 coordinates must be 32 bytes")
		}
		// The standard library checks that the point is on the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return jwtKey{}, err
		}
		return jwtKey{fam: famEC256, key: pub}, nil
	default:
		k, err := b64.DecodeString(j.K)
		if err != nil {
			return jwtKey{}, fmt.Errorf("decode k: %w", err)
		}
		if len(k) < minHMACSecretLen {
			return jwtKey{}, fmt.Errorf("HMAC secret shorter than %d bytes", minHMACSecretLen)
		}
		return jwtKey{fam: famHMAC, key: k}, nil
	}
}

// jwtVerifier checks bearer tokens against one loaded key set.
type jwtVerifier struct {
	parser  *jwt.Parser
	keys    *jwtKeySet
	allowed [famCount]bool
	cache   *jwtCache // nil: every request verifies its token
	// checks counts full verifications (cache misses), for tests.
	checks atomic.Uint64
}

// verify parses and checks token; on success it returns the claims.
func (v *jwtVerifier) verify(token string) (jwt.MapClaims, error) {
	v.checks.Add(1)
	claims := jwt.MapClaims{}
	tok, err := v.parser.ParseWithClaims(token, claims, v.keyfunc)
	if err != nil {
		// jwt.WithValidMethods reports a refused algorithm as a bad
		// signature; name it for the client instead.
		if tok != nil && tok.Method != nil && errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			if fam, ok := jwtAlgorithms[tok.Method.Alg()]; !ok || !v.allowed[fam] {
				return nil, errAlgNotOK
			}
		}
		return nil, err
	}
	if sub, ok := claims["sub"].(string); !ok || sub == "" {
		return nil, errNoSubject
	}
	return claims, nil
}

// keyfunc picks the candidate keys by the token's algorithm family and kid.
// It checks the algorithm again so that a key never meets an algorithm of
// another family, whatever the parser options.
func (v *jwtVerifier) keyfunc(t *jwt.Token) (any, error) {
	fam, ok := jwtAlgorithms[t.Method.Alg()]
	if !ok || !v.allowed[fam] {
		return nil, errAlgNotOK
	}
	var kid string
	if raw, present := t.Header["kid"]; present {
		s, isStr := raw.(string)
		if !isStr || len(s) > maxKIDLen {
			return nil, errBadKID
		}
		kid = s
	}
	ks, err := v.keys.keysFor(fam, kid)
	if err != nil {
		return nil, err
	}
	return jwt.VerificationKeySet{Keys: ks}, nil
}

// jwtScopes returns the scopes of the "scope" (space-separated string) and
// "scp" (array of strings, or a string) claims.
func jwtScopes(c jwt.MapClaims) []string {
	var out []string
	if s, ok := c["scope"].(string); ok {
		out = append(out, strings.Fields(s)...)
	}
	switch scp := c["scp"].(type) {
	case string:
		out = append(out, strings.Fields(scp)...)
	case []any:
		for _, v := range scp {
			if s, ok := v.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// Defaults of the verified-token cache (Options.JWTCacheEntries and
// JWTCacheTTL).
const (
	DefaultJWTCacheEntries = 4096
	DefaultJWTCacheTTL     = time.Minute
	maxJWTCacheEntries     = 1 << 20
	maxJWTCacheTTL         = time.Hour
	jwtCacheShards         = 16
	jwtCacheEvictSample    = 8
)

// jwtIdentity is what a verified token grants, with the identity header
// values built once. It is immutable once cached and shared by every request
// presenting the same token.
type jwtIdentity struct {
	sub      string
	scopes   []string
	subHdr   []byte
	scopeHdr []byte   // sent when scopes is not empty
	claims   [][]byte // parallel to Options.ForwardClaims; nil when absent
	expires  int64    // Unix ns after which the cache no longer answers for the token
}

// jwtCache maps the SHA-256 of a verified token to its identity, so a client
// reusing a token pays the signature check (40-90 µs of CPU for RS256 and
// ES256 here) once per TTL instead of once per request. It holds only tokens that passed
// every check; failures are not cached, so a bad token costs its check every
// time, as it did before, and cannot push good entries out.
//
// An entry is used until min(the token's exp, verification time + TTL): the
// cache never extends a token's life (the clock-skew leeway is not granted to
// cached entries either) and bounds how long a verdict outlives any change
// other than a key rotation. Rotation needs no invalidation: the cache lives
// in the jwtVerifier of one key load, and Reload replaces the verifier.
//
// The entry count is capped: each shard holds at most its share, and a full
// shard evicts, among a few entries sampled in map order (random in Go), an
// expired one or else the one expiring soonest. Safe for concurrent use.
type jwtCache struct {
	ttl    int64 // ns
	shards []jwtCacheShard
}

type jwtCacheShard struct {
	mu  sync.Mutex
	max int
	m   map[[32]byte]*jwtIdentity
}

// newJWTCache returns a cache of at most entries identities, or nil (no
// caching) when entries is not positive (Options has applied its default
// to zero already).
func newJWTCache(entries int, ttl time.Duration) *jwtCache {
	if entries <= 0 {
		return nil
	}
	n := min(jwtCacheShards, entries)
	c := &jwtCache{ttl: int64(ttl), shards: make([]jwtCacheShard, n)}
	for i := range c.shards {
		// Floor division: the shards together never exceed entries.
		c.shards[i] = jwtCacheShard{max: entries / n, m: make(map[[32]byte]*jwtIdentity)}
	}
	return c
}

func (c *jwtCache) shard(sum *[32]byte) *jwtCacheShard {
	return &c.shards[int(sum[0])%len(c.shards)]
}

// get returns the identity cached for the token hash sum, or nil when there is
// none or it expired at now (Unix ns).
func (c *jwtCache) get(sum *[32]byte, now int64) *jwtIdentity {
	s := c.shard(sum)
	s.mu.Lock()
	id := s.m[*sum]
	if id != nil && now >= id.expires {
		delete(s.m, *sum)
		id = nil
	}
	s.mu.Unlock()
	return id
}

// put caches id under sum until min(exp, now+TTL), both Unix ns; an entry
// that would already be expired is not stored.
func (c *jwtCache) put(sum *[32]byte, id *jwtIdentity, exp, now int64) {
	id.expires = min(exp, now+c.ttl)
	if id.expires <= now {
		return
	}
	s := c.shard(sum)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[*sum]; !ok && len(s.m) >= s.max {
		s.evictLocked(now)
	}
	s.m[*sum] = id
}

// evictLocked drops one entry: the first expired one among a few sampled, else
// the sampled one that expires soonest.
func (s *jwtCacheShard) evictLocked(now int64) {
	var victim [32]byte
	soonest := int64(math.MaxInt64)
	n := 0
	for k, e := range s.m {
		if e.expires <= now {
			victim = k
			break
		}
		if e.expires < soonest {
			victim, soonest = k, e.expires
		}
		if n++; n == jwtCacheEvictSample {
			break
		}
	}
	delete(s.m, victim)
}

// len returns the number of entries held, expired ones not yet dropped
// included.
func (c *jwtCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
