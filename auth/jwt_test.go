package auth

import (
	"crypto/sha256"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestParseJWKSExample(t *testing.T) {
	data, err := os.ReadFile("testdata/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		t.Fatalf("parseJWKS(example) = %v", err)
	}
	// The "enc", P-384 and Ed25519 keys are skipped.
	got := map[string]keyFamily{}
	for _, k := range keys {
		got[k.kid] = k.fam
	}
	if len(got) != 2 || got["ec-1"] != famEC256 || got["rsa-1"] != famRSA {
		t.Errorf("parseJWKS(example) = kids %v, want ec-1 (ES256) and rsa-1 (RS256)", got)
	}
}

func TestParseJWKSErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"not JSON", "{", "parse JWKS"},
		{"no keys", `{"keys":[]}`, "no usable"},
		{"only skipped keys", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AA"}]}`, "no usable"},
		{"short RSA", `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`, "at least 2048"},
		{"bad exponent", `{"keys":[{"kty":"RSA","n":"AQAB","e":"Ag"}]}`, "bad RSA exponent"},
		{"bad base64", `{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]}`, "decode n/e"},
		{"point off the curve", `{"keys":[{"kty":"EC","crv":"P-256","x":"` + strings.Repeat("A", 43) + `","y":"` + strings.Repeat("A", 42) + `E"}]}`, "keys[0]"},
		{"short coordinates", `{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`, "32 bytes"},
		{"short oct", `{"keys":[{"kty":"oct","k":"c2hvcnQ"}]}`, "shorter than 32"},
		{"duplicate kid", `{"keys":[{"kty":"oct","kid":"a","k":"` + strings.Repeat("A", 43) + `"},{"kty":"oct","kid":"a","k":"` + strings.Repeat("B", 43) + `"}]}`, `duplicate kid "a"`},
		{"oct ok", `{"keys":[{"kty":"oct","kid":"a","alg":"HS256","k":"` + strings.Repeat("A", 43) + `"}]}`, ""},
		{"oct for HS512 skipped", `{"keys":[{"kty":"oct","alg":"HS512","k":"AA"}]}`, "no usable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := parseJWKS([]byte(tc.data))
			if tc.want == "" {
				if err != nil || len(keys) != 1 {
					t.Fatalf("parseJWKS(%s) = %v, %v; want one key", tc.name, keys, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseJWKS(%s) = %v, want %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestParsePEMKeys(t *testing.T) {
	es, err := os.ReadFile("testdata/es256.pub.pem")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := os.ReadFile("testdata/rs256.pub.pem")
	if err != nil {
		t.Fatal(err)
	}
	withKID := strings.Replace(string(es), "-----\n", "-----\nkid: ec-7\n\n", 1)
	tests := []struct {
		name, data string
		want       []keyFamily
		kids       []string
		err        string
	}{
		{"EC and RSA", string(es) + string(rs), []keyFamily{famEC256, famRSA}, []string{"", ""}, ""},
		{"kid header", withKID, []keyFamily{famEC256}, []string{"ec-7"}, ""},
		{"empty", "", nil, nil, "no PEM public key"},
		{"garbage block", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", nil, nil, "block 1"},
		{"private key", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", nil, nil, "private key"},
		{"other type", "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", nil, nil, `unsupported PEM type "FOO"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := parsePEMKeys([]byte(tc.data))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parsePEMKeys(%s) = %v, want %q", tc.name, err, tc.err)
				}
				return
			}
			if err != nil || len(keys) != len(tc.want) {
				t.Fatalf("parsePEMKeys(%s) = %v, %v; want %d keys", tc.name, keys, err, len(tc.want))
			}
			for i, k := range keys {
				if k.fam != tc.want[i] || k.kid != tc.kids[i] {
					t.Errorf("parsePEMKeys(%s)[%d] = family %d kid %q, want %d %q", tc.name, i, k.fam, k.kid, tc.want[i], tc.kids[i])
				}
			}
		})
	}
}

func TestJWTKeySetLookup(t *testing.T) {
	a, b, w := []byte("a"), []byte("b"), []byte("w")
	s := newJWTKeySet([]jwtKey{{kid: "a", fam: famHMAC, key: a}, {kid: "b", fam: famHMAC, key: b}, {fam: famHMAC, key: w}})
	tests := []struct {
		kid  string
		fam  keyFamily
		want string
		err  error
	}{
		{"a", famHMAC, "aw", nil},
		{"", famHMAC, "abw", nil},
		{"zzz", famHMAC, "w", nil},
		{"a", famRSA, "", errUnknownKID},
		{"", famRSA, "", errNoKeyForAlg},
	}
	for _, tc := range tests {
		ks, err := s.keysFor(tc.fam, tc.kid)
		var got string
		for _, k := range ks {
			got += string(k.([]byte))
		}
		if got != tc.want || err != tc.err {
			t.Errorf("keysFor(%d, %q) = %q, %v; want %q, %v", tc.fam, tc.kid, got, err, tc.want, tc.err)
		}
	}
}

func FuzzParseJWKS(f *testing.F) {
	data, err := os.ReadFile("testdata/jwks.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"` + strings.Repeat("A", 43) + `"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseJWKS(data)
		if err == nil && len(keys) == 0 {
			t.Fatal("parseJWKS = no keys and no error")
		}
		for _, k := range keys {
			if k.key == nil || k.fam >= famCount {
				t.Fatalf("parseJWKS returned a bad key %+v", k)
			}
		}
	})
}

func FuzzParsePEMKeys(f *testing.F) {
	for _, p := range []string{"testdata/es256.pub.pem", "testdata/rs256.pub.pem"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nkid: x\n\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parsePEMKeys(data)
		if err == nil && len(keys) == 0 {
			t.Fatal("parsePEMKeys = no keys and no error")
		}
		if _, err := parseHMACSecret(data); err == nil && len(data) < minHMACSecretLen {
			t.Fatalf("parseHMACSecret accepted %d bytes", len(data))
		}
	})
}

// fakeAuthClock is a settable clock for Options.Now.
type fakeAuthClock struct{ ns atomic.Int64 }

func (c *fakeAuthClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeAuthClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestJWTCache drives the verified-token cache through one Authenticator per
// case: each step presents a token at a clock offset and checks the status and
// how many full verifications have run so far.
func TestJWTCache(t *testing.T) {
	f := newAuthFixture(t)
	start := time.Now().Truncate(time.Second)
	claims := func(exp time.Duration, edit func(jwt.MapClaims)) jwt.MapClaims {
		return f.claims(func(c jwt.MapClaims) {
			c["iat"] = start.Add(-time.Minute).Unix()
			c["exp"] = start.Add(exp).Unix()
			if edit != nil {
				edit(c)
			}
		})
	}
	es := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodES256, "ec-2", c, f.jwksEC) }
	good := es(claims(time.Hour, nil))
	short := es(claims(30*time.Second, nil))
	other := es(claims(time.Hour, func(c jwt.MapClaims) { c["sub"] = "user-7" }))
	forged := sign(t, jwt.SigningMethodES256, "ec-2", claims(time.Hour, nil), f.ecKey) // wrong key for ec-2

	type step struct {
		after    time.Duration // clock advance before this step
		token    string
		required []string
		status   int
		checks   uint64 // verifications run so far, this step included
	}
	tests := []struct {
		name    string
		entries int
		ttl     time.Duration
		steps   []step
	}{
		{"reuse verifies once", 0, 0, []step{
			{0, good, nil, 0, 1}, {time.Second, good, nil, 0, 1}, {time.Second, good, nil, 0, 1},
		}},
		{"distinct tokens verify each", 0, 0, []step{
			{0, good, nil, 0, 1}, {0, other, nil, 0, 2}, {0, good, nil, 0, 2}, {0, other, nil, 0, 2},
		}},
		{"exp honoured from cache", 0, 0, []step{
			{0, short, nil, 0, 1},
			{20 * time.Second, short, nil, 0, 1},
			// Past exp: the entry is dead, the token is checked again and,
			// past the 1s leeway, refused.
			{12 * time.Second, short, nil, 401, 2},
		}},
		{"ttl honoured", 0, time.Minute, []step{
			{0, good, nil, 0, 1}, {59 * time.Second, good, nil, 0, 1}, {time.Second, good, nil, 0, 2}, {0, good, nil, 0, 2},
		}},
		{"scope checked on every hit", 0, 0, []step{
			{0, good, []string{"orders:read"}, 0, 1},
			{0, good, []string{"orders:write"}, 403, 1},
			{0, good, []string{"orders:read"}, 0, 1},
		}},
		{"failures are not cached", 0, 0, []step{
			{0, forged, nil, 401, 1}, {0, forged, nil, 401, 2},
		}},
		{"off", -1, 0, []step{
			{0, good, nil, 0, 1}, {0, good, nil, 0, 2},
		}},
		{"cap of one evicts", 1, 0, []step{
			{0, good, nil, 0, 1}, {0, other, nil, 0, 2}, {0, good, nil, 0, 3}, {0, good, nil, 0, 3},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeAuthClock{}
			clk.ns.Store(start.UnixNano())
			o := f.opts
			o.Now, o.ClockSkew, o.JWTCacheEntries, o.JWTCacheTTL = clk.Now, time.Second, tc.entries, tc.ttl
			a, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			var first map[string][]string
			for i, s := range tc.steps {
				clk.Advance(s.after)
				ctx := authCtx("Authorization", "Bearer "+s.token)
				res := a.Authenticate(ctx, s.required)
				if res.Status != s.status {
					t.Fatalf("step %d: Authenticate = %+v, want status %d", i, res, s.status)
				}
				if got := a.state.Load().jwt.checks.Load(); got != s.checks {
					t.Errorf("step %d: verifications = %d, want %d", i, got, s.checks)
				}
				// A cache hit sets the same identity headers as a verification.
				if s.status == 0 && s.token == good {
					id := identity(ctx, "X-Edged-Auth-")
					if first == nil {
						first = id
					} else if !reflect.DeepEqual(id, first) {
						t.Errorf("step %d: identity headers %v, want %v as on first use", i, id, first)
					}
				}
			}
		})
	}
}

func TestJWTCacheCap(t *testing.T) {
	tests := []struct{ entries, tokens int }{
		{1, 50}, {7, 100}, {16, 100}, {100, 1000}, {4096, 5000},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.entries), func(t *testing.T) {
			c := newJWTCache(tc.entries, time.Hour)
			now := time.Now().UnixNano()
			for i := range tc.tokens {
				sum := sha256.Sum256([]byte(strconv.Itoa(i)))
				c.put(&sum, &jwtIdentity{sub: "s"}, now+int64(time.Hour), now)
				if n := c.len(); n > tc.entries {
					t.Fatalf("after %d puts len() = %d, want at most %d", i+1, n, tc.entries)
				}
			}
			if n := c.len(); n < tc.entries*9/10 {
				t.Errorf("len() = %d after %d puts, want near the cap %d", n, tc.tokens, tc.entries)
			}
		})
	}
}

func TestJWTCacheEvictsExpiredFirst(t *testing.T) {
	c := newJWTCache(jwtCacheShards, time.Hour) // one entry per shard
	now := time.Now().UnixNano()
	var a, b [32]byte // same shard (first byte 0)
	b[1] = 1
	c.put(&a, &jwtIdentity{sub: "a"}, now+int64(time.Second), now)
	if c.get(&a, now) == nil {
		t.Fatal("get(a) = nil right after put, want the entry")
	}
	later := now + int64(2*time.Second)
	c.put(&b, &jwtIdentity{sub: "b"}, later+int64(time.Hour), later)
	if c.get(&a, later) != nil || c.get(&b, later) == nil {
		t.Errorf("after a full shard took b: a cached %v, b cached %v; want a gone, b kept",
			c.get(&a, later) != nil, c.get(&b, later) != nil)
	}
	// An entry already past its exp is not stored at all.
	var d [32]byte
	d[0] = 2
	c.put(&d, &jwtIdentity{sub: "d"}, now-1, now)
	if c.get(&d, now) != nil {
		t.Error("put of an expired token stored it, want it dropped")
	}
}

func TestJWTCacheClearedByReload(t *testing.T) {
	f := newAuthFixture(t)
	a, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodES256, "ec-2", f.claims(nil), f.jwksEC)
	for range 2 {
		if res := a.Authenticate(authCtx("Authorization", "Bearer "+tok), nil); !res.OK {
			t.Fatalf("Authenticate before rotation = %+v, want OK", res)
		}
	}
	// Rotate ec-2 out of the JWKS: the cached verdict must not outlive it.
	f.write(t, "jwks.json", `{"keys":[{"kty":"oct","kid":"h","k":"`+strings.Repeat("A", 43)+`"}]}`)
	if err := a.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if n := a.state.Load().jwt.cache.len(); n != 0 {
		t.Errorf("cache len after Reload = %d, want 0", n)
	}
	if res := a.Authenticate(authCtx("Authorization", "Bearer "+tok), nil); res.OK || res.Status != 401 {
		t.Errorf("Authenticate with a rotated-out key = %+v, want 401", res)
	}
}

func TestJWTCacheHitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	f := newAuthFixture(t)
	a, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodES256, "ec-2", f.claims(nil), f.jwksEC)
	ctx := authCtx("Authorization", "Bearer "+tok)
	req := []string{"orders:read"}
	a.Authenticate(ctx, req) // verify and cache
	if n := testing.AllocsPerRun(100, func() {
		if res := a.Authenticate(ctx, req); !res.OK {
			t.Fatalf("Authenticate = %+v", res)
		}
	}); n != 0 {
		t.Errorf("Authenticate of a cached token: %v allocs, want 0", n)
	}
}
