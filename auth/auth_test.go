package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"
)

// authFixture holds real keys and the files an Authenticator reads.
type authFixture struct {
	dir        string
	secret     []byte
	rsaKey     *rsa.PrivateKey // in keys.pem, no kid
	ecKey      *ecdsa.PrivateKey
	jwksEC     *ecdsa.PrivateKey // in jwks.json, kid "ec-2"
	otherRSA   *rsa.PrivateKey   // in jwks.json, kid "rsa-other"
	stranger   *rsa.PrivateKey   // configured nowhere
	rsaPubPEM  []byte
	apiKey     string // "svc-a orders:read"
	apiKey2    string // "svc-b", no scopes
	keyFile    string
	secretFile string
	pemFile    string
	jwksFile   string
	opts       Options
}

// RSA key generation is slow; the keys are made once and shared read-only.
var authKeys = sync.OnceValues(func() ([3]*rsa.PrivateKey, [2]*ecdsa.PrivateKey) {
	var r [3]*rsa.PrivateKey
	for i := range r {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		r[i] = k
	}
	var e [2]*ecdsa.PrivateKey
	for i := range e {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		e[i] = k
	}
	return r, e
})

func newAuthFixture(t testing.TB) *authFixture {
	t.Helper()
	rk, ek := authKeys()
	f := &authFixture{dir: t.TempDir(), rsaKey: rk[0], otherRSA: rk[1], stranger: rk[2], ecKey: ek[0], jwksEC: ek[1]}
	f.secret = []byte("0123456789abcdef0123456789abcdef-hs256-test-secret")
	f.apiKey, f.apiKey2 = "edk_test_key_one_AAAAAAAAAAAAAAAAAAAAAAAA", "edk_test_key_two_BBBBBBBBBBBBBBBBBBBBBBBB"

	rsaDER, err := x509.MarshalPKIXPublicKey(&f.rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&f.ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	f.rsaPubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER})
	pemData := append(append([]byte(nil), f.rsaPubPEM...),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"kid": "ec-pem"}, Bytes: ecDER})...)

	ecPub, err := f.jwksEC.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "EC", "crv": "P-256", "kid": "ec-2", "use": "sig", "alg": "ES256", "x": b64(ecPub[1:33]), "y": b64(ecPub[33:])},
		{"kty": "RSA", "kid": "rsa-other", "alg": "RS256", "n": b64(f.otherRSA.N.Bytes()), "e": "AQAB"},
		{"kty": "RSA", "kid": "enc-key", "use": "enc", "n": "AQAB", "e": "AQAB"}, // skipped: encryption
		{"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AA"},                 // skipped: not accepted
	}})
	if err != nil {
		t.Fatal(err)
	}
	l1, err := KeyLine(f.apiKey, "svc-a", "orders:read")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := KeyLine(f.apiKey2, "svc-b")
	if err != nil {
		t.Fatal(err)
	}
	f.keyFile = f.write(t, "apikeys.txt", "# test keys\n"+l1+"\n\n"+l2+"\n")
	f.secretFile = f.write(t, "hs256.secret", string(f.secret)+"\n")
	f.pemFile = f.write(t, "keys.pem", string(pemData))
	f.jwksFile = f.write(t, "jwks.json", string(jwks))
	f.opts = Options{
		APIKeyFile: f.keyFile, JWTKeyFile: f.pemFile, JWTSecretFile: f.secretFile, JWKSFile: f.jwksFile,
		Issuer: "https://issuer.test", Audience: "edged-api",
		ForwardClaims: []string{"email", "tenant", "roles"},
	}
	return f
}

func (f *authFixture) write(t testing.TB, name, data string) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// claims returns valid claims, changed by the given edits.
func (f *authFixture) claims(edit func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": "https://issuer.test", "aud": "edged-api", "sub": "user-42",
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Add(-time.Minute).Unix(),
		"scope": "orders:read profile", "email": "u@example.test", "tenant": "acme",
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func sign(t testing.TB, m jwt.SigningMethod, kid string, c jwt.MapClaims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func authCtx(headers ...string) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.DisableNormalizing() // as the server runs
	ctx.Request.SetRequestURI("/orders")
	for i := 0; i+1 < len(headers); i += 2 {
		ctx.Request.Header.Add(headers[i], headers[i+1])
	}
	return ctx
}

// identity returns the request's headers under prefix, lower-cased name -> values.
func identity(ctx *fasthttp.RequestCtx, prefix string) map[string][]string {
	out := map[string][]string{}
	for k, v := range ctx.Request.Header.All() {
		if strings.HasPrefix(strings.ToLower(string(k)), strings.ToLower(prefix)) {
			out[strings.ToLower(string(k))] = append(out[strings.ToLower(string(k))], string(v))
		}
	}
	return out
}

func TestAuthenticateJWT(t *testing.T) {
	f := newAuthFixture(t)
	a, err := New(f.opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, "", c, f.secret) }
	now := time.Now()
	noneTok, err := jwt.NewWithClaims(jwt.SigningMethodNone, f.claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs384, err := jwt.NewWithClaims(jwt.SigningMethodHS384, f.claims(nil)).SignedString(f.secret)
	if err != nil {
		t.Fatal(err)
	}
	valid := f.claims(nil)
	tests := []struct {
		name     string
		token    string
		required []string
		status   int
		reason   string
	}{
		{"HS256", hs(valid), nil, 0, ""},
		{"RS256 PEM", sign(t, jwt.SigningMethodRS256, "", valid, f.rsaKey), nil, 0, ""},
		{"RS256 PEM key matches any kid", sign(t, jwt.SigningMethodRS256, "whatever", valid, f.rsaKey), nil, 0, ""},
		{"RS256 JWKS kid", sign(t, jwt.SigningMethodRS256, "rsa-other", valid, f.otherRSA), nil, 0, ""},
		{"ES256 PEM kid", sign(t, jwt.SigningMethodES256, "ec-pem", valid, f.ecKey), nil, 0, ""},
		{"ES256 no kid", sign(t, jwt.SigningMethodES256, "", valid, f.ecKey), nil, 0, ""},
		{"ES256 JWKS kid", sign(t, jwt.SigningMethodES256, "ec-2", valid, f.jwksEC), nil, 0, ""},
		{"scope string", hs(valid), []string{"orders:read", "profile"}, 0, ""},
		{"scp array", hs(f.claims(func(c jwt.MapClaims) { delete(c, "scope"); c["scp"] = []string{"a", "b"} })), []string{"b"}, 0, ""},
		{"expired within skew", hs(f.claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-30 * time.Second).Unix() })), nil, 0, ""},
		{"expired", hs(f.claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * time.Minute).Unix() })), nil, 401, "token expired"},
		{"not yet valid", hs(f.claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(5 * time.Minute).Unix() })), nil, 401, "token not yet valid"},
		{"issued in the future", hs(f.claims(func(c jwt.MapClaims) { c["iat"] = now.Add(5 * time.Minute).Unix() })), nil, 401, "token not yet valid"},
		{"no exp", hs(f.claims(func(c jwt.MapClaims) { delete(c, "exp") })), nil, 401, "required claim missing"},
		{"wrong issuer", hs(f.claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })), nil, 401, "wrong issuer"},
		{"wrong audience", hs(f.claims(func(c jwt.MapClaims) { c["aud"] = []string{"other"} })), nil, 401, "wrong audience"},
		{"no sub", hs(f.claims(func(c jwt.MapClaims) { delete(c, "sub") })), nil, 401, "missing subject"},
		{"none alg", noneTok, nil, 401, "algorithm not allowed"},
		{"HS384", hs384, nil, 401, "algorithm not allowed"},
		{"alg confusion: RSA public key as HS256 secret", sign(t, jwt.SigningMethodHS256, "", valid, f.rsaPubPEM), nil, 401, "invalid signature"},
		{"wrong key RS256", sign(t, jwt.SigningMethodRS256, "", valid, f.stranger), nil, 401, "invalid signature"},
		{"wrong key HS256", sign(t, jwt.SigningMethodHS256, "", valid, []byte("another-secret-of-at-least-32-bytes!!")), nil, 401, "invalid signature"},
		{"unknown kid", sign(t, jwt.SigningMethodES256, "nope", valid, f.ecKey), nil, 401, "unknown key id"},
		{"kid of another family", sign(t, jwt.SigningMethodES256, "rsa-other", valid, f.ecKey), nil, 401, "unknown key id"},
		{"malformed", "not.a.token", nil, 401, "malformed token"},
		{"two parts", "abc.def", nil, 401, "malformed token"},
		{"empty", "", nil, 401, "malformed token"},
		{"tampered payload", func() string {
			p := strings.Split(hs(valid), ".")
			c, _ := json.Marshal(f.claims(func(c jwt.MapClaims) { c["sub"] = "admin" }))
			return p[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + p[2]
		}(), nil, 401, "invalid signature"},
		{"100 KiB token", strings.Repeat("A", 100<<10), nil, 401, "token too large"},
		{"missing scope", hs(valid), []string{"orders:write"}, 403, "token lacks a required scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := authCtx("Authorization", "Bearer "+tc.token)
			res := a.Authenticate(ctx, tc.required)
			if res.Status != tc.status || res.Reason != tc.reason || res.OK != (tc.status == 0) {
				t.Fatalf("Authenticate(%s) = %+v, want status %d reason %q", tc.name, res, tc.status, tc.reason)
			}
			id := identity(ctx, "X-Edged-Auth-")
			switch tc.status {
			case 0:
				if res.Subject != "user-42" || res.Method != "jwt" || id["x-edged-auth-sub"][0] != "user-42" {
					t.Errorf("Authenticate(%s) subject %q, headers %v, want user-42", tc.name, res.Subject, id)
				}
			case 401:
				if !errors.Is(res.Err, ErrInvalid) || !strings.Contains(res.WWWAuthenticate, `error="invalid_token"`) ||
					!strings.HasPrefix(res.WWWAuthenticate, `Bearer realm="edged"`) {
					t.Errorf("Authenticate(%s) = %+v, want invalid_token challenge", tc.name, res)
				}
			case 403:
				if !errors.Is(res.Err, ErrScope) || !strings.Contains(res.WWWAuthenticate, `error="insufficient_scope"`) ||
					!strings.Contains(res.WWWAuthenticate, `scope="orders:write"`) {
					t.Errorf("Authenticate(%s) = %+v, want insufficient_scope challenge", tc.name, res)
				}
			}
			if tc.status != 0 && len(id) != 0 {
				t.Errorf("Authenticate(%s) failed but set identity headers %v", tc.name, id)
			}
		})
	}
}

func TestAuthenticateHugeTokenRefusedEarly(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	f := newAuthFixture(t)
	a, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := authCtx("Authorization", "Bearer "+strings.Repeat("eyJhbGciOiJIUzI1NiJ9.", 5000))
	allocs := testing.AllocsPerRun(100, func() {
		if res := a.Authenticate(ctx, nil); res.Reason != "token too large" {
			t.Fatalf("Authenticate(huge) = %+v, want token too large", res)
		}
	})
	if allocs != 0 {
		t.Errorf("Authenticate(huge token) allocs = %v, want 0 (refused before parsing)", allocs)
	}
}

func TestAuthenticateOnlyRSAKeysRefusesHS256(t *testing.T) {
	// The classic confusion: a verifier that hands its RSA public key to
	// whatever algorithm the token names would accept this HS256 token.
	f := newAuthFixture(t)
	a, err := New(Options{JWTKeyFile: f.pemFile, Issuer: "https://issuer.test", Audience: "edged-api"})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range [][]byte{f.rsaPubPEM, []byte(strings.TrimSpace(string(f.rsaPubPEM)))} {
		tok := sign(t, jwt.SigningMethodHS256, "", f.claims(nil), key)
		res := a.Authenticate(authCtx("Authorization", "Bearer "+tok), nil)
		if res.OK || res.Reason != "algorithm not allowed" {
			t.Errorf("Authenticate(HS256 signed with RSA public key) = %+v, want algorithm not allowed", res)
		}
	}
	// And an explicit algorithm list narrows further.
	b, err := New(Options{JWTKeyFile: f.pemFile, JWTAlgorithms: []string{"ES256"}, Issuer: "https://issuer.test", Audience: "edged-api"})
	if err != nil {
		t.Fatal(err)
	}
	res := b.Authenticate(authCtx("Authorization", "Bearer "+sign(t, jwt.SigningMethodRS256, "", f.claims(nil), f.rsaKey)), nil)
	if res.OK || res.Reason != "algorithm not allowed" {
		t.Errorf("Authenticate(RS256 with only ES256 allowed) = %+v, want algorithm not allowed", res)
	}
}

func TestAuthenticateAPIKey(t *testing.T) {
	f := newAuthFixture(t)
	a, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		headers  []string
		required []string
		status   int
		reason   string
		subject  string
	}{
		{"X-API-Key", []string{"X-API-Key", f.apiKey}, nil, 0, "", "svc-a"},
		{"x-api-key lower case", []string{"x-api-key", f.apiKey2}, nil, 0, "", "svc-b"},
		{"Authorization ApiKey", []string{"authorization", "apikey " + f.apiKey}, []string{"orders:read"}, 0, "", "svc-a"},
		{"unknown key", []string{"X-API-Key", f.apiKey + "x"}, nil, 401, "invalid API key", ""},
		{"empty key", []string{"X-API-Key", ""}, nil, 401, "invalid API key", ""},
		{"hash presented as key", []string{"X-API-Key", HashKey(f.apiKey)}, nil, 401, "invalid API key", ""},
		{"huge key", []string{"X-API-Key", strings.Repeat("k", 10000)}, nil, 401, "invalid API key", ""},
		{"missing scope", []string{"X-API-Key", f.apiKey2}, []string{"orders:read"}, 403, "token lacks a required scope", ""},
		{"no credentials", nil, nil, 401, "no credentials", ""},
		{"two credentials", []string{"X-API-Key", f.apiKey, "Authorization", "ApiKey " + f.apiKey2}, nil, 401, "more than one credential", ""},
		{"two X-API-Key", []string{"X-API-Key", f.apiKey, "x-api-key", f.apiKey2}, nil, 401, "more than one credential", ""},
		{"Basic scheme", []string{"Authorization", "Basic dTpw"}, nil, 401, "unsupported authorization scheme", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := authCtx(tc.headers...)
			res := a.Authenticate(ctx, tc.required)
			if res.Status != tc.status || res.Reason != tc.reason || res.OK != (tc.status == 0) {
				t.Fatalf("Authenticate(%s) = %+v, want status %d reason %q", tc.name, res, tc.status, tc.reason)
			}
			if tc.status == 0 {
				id := identity(ctx, "X-Edged-Auth-")
				if res.Subject != tc.subject || res.KeyName != tc.subject || id["x-edged-auth-key"][0] != tc.subject ||
					id["x-edged-auth-sub"][0] != tc.subject || id["x-edged-auth-method"][0] != "api-key" {
					t.Errorf("Authenticate(%s) = %+v headers %v, want subject %q", tc.name, res, id, tc.subject)
				}
			}
		})
	}
	res := a.Authenticate(authCtx(), nil)
	if res.WWWAuthenticate != `Bearer realm="edged"` || !errors.Is(res.Err, ErrMissing) {
		t.Errorf("Authenticate(no credentials) = %+v, want bare Bearer challenge", res)
	}
}

func TestAuthenticateAPIKeyNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	f := newAuthFixture(t)
	a, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := authCtx("X-API-Key", f.apiKey, "x-edged-auth-sub", "forged")
	req := []string{"orders:read"}
	a.Authenticate(ctx, req) // warm the header's buffers
	allocs := testing.AllocsPerRun(200, func() {
		ctx.Request.Header.Set("X-Edged-AUTH-Key", "forged")
		if res := a.Authenticate(ctx, req); !res.OK {
			t.Fatalf("Authenticate = %+v", res)
		}
	})
	if allocs != 0 {
		t.Errorf("Authenticate(API key) allocs = %v, want 0", allocs)
	}
}

func TestAuthenticateReloadRotatesKeys(t *testing.T) {
	f := newAuthFixture(t)
	a, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step, key string, wantOK bool) {
		t.Helper()
		if res := a.Authenticate(authCtx("X-API-Key", key), nil); res.OK != wantOK {
			t.Errorf("%s: Authenticate(%.8s…) = %+v, want OK %v", step, key, res, wantOK)
		}
	}
	newKey, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	line, err := KeyLine(newKey, "svc-a", "orders:read")
	if err != nil {
		t.Fatal(err)
	}
	check("before", f.apiKey, true)
	check("before", newKey, false)

	f.write(t, "apikeys.txt", line+"\n")
	if err := a.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	check("after rotation", f.apiKey, false)
	check("after rotation", newKey, true)

	// A broken file (a plaintext key pasted in) keeps the current keys.
	f.write(t, "apikeys.txt", line+"\n"+newKey+" svc-c\n")
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Reload(bad file) = %v, want an error naming line 2", err)
	}
	check("after failed reload", newKey, true)
	check("after failed reload", f.apiKey, false)

	// So does a broken JWT key file, even with a good API key file.
	f.write(t, "apikeys.txt", "")
	f.write(t, "keys.pem", "not pem")
	if err := a.Reload(); err == nil {
		t.Fatal("Reload(bad PEM) = nil, want error")
	}
	check("after failed PEM reload", newKey, true)
}

func TestAuthenticateReloadConcurrent(t *testing.T) {
	f := newAuthFixture(t)
	a, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Both lines stay in every version of the file: never refused.
				if res := a.Authenticate(authCtx("X-API-Key", f.apiKey), nil); !res.OK {
					t.Errorf("Authenticate during reload = %+v", res)
					return
				}
			}
		})
	}
	for i := range 50 {
		l1, _ := KeyLine(f.apiKey, "svc-a")
		extra, _ := KeyLine(strings.Repeat("z", i+1)+"-key", "svc-z")
		f.write(t, "apikeys.txt.tmp", l1+"\n"+extra+"\n")
		if err := os.Rename(filepath.Join(f.dir, "apikeys.txt.tmp"), f.keyFile); err != nil {
			t.Fatal(err)
		}
		if err := a.Reload(); err != nil {
			t.Fatalf("Reload: %v", err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestAuthenticateStripsForgedIdentity(t *testing.T) {
	f := newAuthFixture(t)
	a, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	forged := []string{
		"X-Edged-Auth-Sub", "admin", "x-edged-auth-sub", "admin", "X-EDGED-AUTH-KEY", "root",
		"x-Edged-aUth-Claim-Email", "ceo@example.test", "X-Edged-Auth-Method", "jwt", "X-Edged-Auth-Scope", "admin",
	}
	for _, tc := range []struct {
		name  string
		creds []string
		want  map[string][]string
	}{
		{"API key", []string{"X-API-Key", f.apiKey2}, map[string][]string{
			"x-edged-auth-sub": {"svc-b"}, "x-edged-auth-key": {"svc-b"}, "x-edged-auth-method": {"api-key"}}},
		{"failed auth", []string{"X-API-Key", "wrong"}, map[string][]string{}},
		{"no credentials", nil, map[string][]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := authCtx(append(append([]string{}, forged...), tc.creds...)...)
			a.Authenticate(ctx, nil)
			got := identity(ctx, "x-edged-auth-")
			if len(got) != len(tc.want) {
				t.Fatalf("identity headers after Authenticate = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if strings.Join(got[k], "|") != strings.Join(v, "|") {
					t.Errorf("header %s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
	// A normalizing header (the fasthttp default) is handled too.
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.Set("x-edged-auth-sub", "admin")
	if n := StripIdentityHeaders(&ctx.Request.Header, []byte("X-Edged-Auth-")); n != 1 || len(identity(ctx, "x-edged-auth-")) != 0 {
		t.Errorf("StripIdentityHeaders(normalized) = %d, left %v", n, identity(ctx, "x-edged-auth-"))
	}
}

func TestAuthenticateSanitisesClaims(t *testing.T) {
	f := newAuthFixture(t)
	a, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodHS256, "", f.claims(func(c jwt.MapClaims) {
		c["sub"] = "user\r\nX-Evil: 1\x00"
		c["email"] = "a@b.test\nX-Edged-Auth-Sub: admin"
		c["tenant"] = strings.Repeat("é", 1500)
		c["roles"] = []any{"admin\r", 7, true, map[string]any{"x": 1}}
	}), f.secret)
	ctx := authCtx("Authorization", "Bearer "+tok)
	res := a.Authenticate(ctx, nil)
	if !res.OK {
		t.Fatalf("Authenticate = %+v", res)
	}
	id := identity(ctx, "X-Edged-Auth-")
	want := map[string]string{
		"x-edged-auth-sub":          "userX-Evil: 1",
		"x-edged-auth-claim-email":  "a@b.testX-Edged-Auth-Sub: admin",
		"x-edged-auth-claim-roles":  "admin, 7, true",
		"x-edged-auth-scope":        "orders:read profile",
		"x-edged-auth-claim-tenant": strings.Repeat("é", 512),
	}
	for k, v := range want {
		if len(id[k]) != 1 || id[k][0] != v {
			t.Errorf("header %s = %q, want %q", k, id[k], v)
		}
	}
	raw := ctx.Request.Header.String()
	if strings.Contains(raw, "\nX-Evil") || strings.Contains(raw, "\x00") || strings.Count(raw, "\r\nX-Edged-Auth-Sub:") != 1 {
		t.Errorf("request header allows injection:\n%s", raw)
	}
}

func TestNewAuthenticatorValidation(t *testing.T) {
	f := newAuthFixture(t)
	ecP384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&ecP384.PublicKey)
	p384 := f.write(t, "p384.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	privDER, _ := x509.MarshalPKCS8PrivateKey(f.ecKey)
	priv := f.write(t, "priv.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})))
	short := f.write(t, "short.secret", "tooshort\n")
	jwtOK := func(o Options) Options { o.Issuer, o.Audience = "i", "a"; return o }
	tests := []struct {
		name string
		opts Options
		want []string // substrings of the error; nil means success
	}{
		{"zero value", Options{}, []string{"auth.api_key_file: set an API key file"}},
		{"api keys only", Options{APIKeyFile: f.keyFile}, nil},
		{"none alg", jwtOK(Options{JWTSecretFile: f.secretFile, JWTAlgorithms: []string{"none", "HS512"}}),
			[]string{`jwt_algorithms[0]: "none" is not accepted`, `jwt_algorithms[1]: "HS512"`}},
		{"alg without key", jwtOK(Options{JWTKeyFile: f.pemFile, JWTAlgorithms: []string{"HS256"}}), []string{"jwt_algorithms[0]: no HS256 key"}},
		{"missing issuer and audience", Options{JWKSFile: f.jwksFile}, []string{"auth.issuer: required", "auth.audience: required"}},
		{"JWT settings without keys", Options{APIKeyFile: f.keyFile, Issuer: "x"}, []string{"without a JWT key source"}},
		{"bad numbers", Options{APIKeyFile: f.keyFile, ClockSkew: -time.Second, MaxTokenBytes: 1 << 20},
			[]string{"auth.clock_skew", "auth.max_token_bytes"}},
		{"bad prefix", Options{APIKeyFile: f.keyFile, HeaderPrefix: "X-Auth: "}, []string{"auth.header_prefix"}},
		{"prefix strips credentials", Options{APIKeyFile: f.keyFile, HeaderPrefix: "X-API"}, []string{"would strip the X-API-Key"}},
		{"bad realm and claims", Options{APIKeyFile: f.keyFile, Realm: `a"b`, ForwardClaims: []string{"email", "Email", "a b"}},
			[]string{"auth.realm", `forward_claims[1]: "Email" listed twice`, "forward_claims[2]"}},
		{"bad cache bounds", Options{APIKeyFile: f.keyFile, JWTCacheEntries: 1<<20 + 1, JWTCacheTTL: 2 * time.Hour},
			[]string{"auth.jwt_cache_entries: at most", "auth.jwt_cache_ttl: must be between"}},
		{"negative cache TTL", Options{APIKeyFile: f.keyFile, JWTCacheTTL: -time.Second}, []string{"auth.jwt_cache_ttl"}},
		{"negative cache entries turn the cache off", Options{APIKeyFile: f.keyFile, JWTCacheEntries: -1}, nil},
		{"token cap too small", Options{APIKeyFile: f.keyFile, MaxTokenBytes: 255}, []string{"auth.max_token_bytes"}},
		{"too many claims", Options{APIKeyFile: f.keyFile, ForwardClaims: manyClaims(33)}, []string{"auth.forward_claims: at most 32"}},
		{"long claim name", Options{APIKeyFile: f.keyFile, ForwardClaims: []string{strings.Repeat("c", 65)}},
			[]string{"forward_claims[0]", "1-64 header-name characters"}},
		{"PEM as HMAC secret", jwtOK(Options{JWTSecretFile: f.pemFile}), []string{"looks like a PEM key"}},
		{"short secret", jwtOK(Options{JWTSecretFile: short}), []string{"shorter than 32 bytes"}},
		{"private key PEM", jwtOK(Options{JWTKeyFile: priv}), []string{"private key; give the public key"}},
		{"P-384 key", jwtOK(Options{JWTKeyFile: p384}), []string{"ES256 needs P-256"}},
		{"missing files", jwtOK(Options{APIKeyFile: "/nonexistent/k", JWKSFile: "/nonexistent/j"}),
			[]string{"auth.api_key_file", `jwks_file "/nonexistent/j"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(tc.opts)
			if tc.want == nil {
				if err != nil || a == nil {
					t.Fatalf("New(%s) = %v, want success", tc.name, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New(%s) = nil error, want %q", tc.name, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New(%s) = %v, want it to mention %q", tc.name, err, w)
				}
			}
		})
	}
}

// manyClaims returns n distinct claim names.
func manyClaims(n int) []string {
	c := make([]string, n)
	for i := range c {
		c[i] = "c" + strconv.Itoa(i)
	}
	return c
}

func TestAuthenticateOnlyAPIKeysRefusesBearer(t *testing.T) {
	f := newAuthFixture(t)
	a, err := New(Options{APIKeyFile: f.keyFile, HeaderPrefix: "X-Id-", Realm: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	res := a.Authenticate(authCtx("Authorization", "Bearer "+sign(t, jwt.SigningMethodHS256, "", f.claims(nil), f.secret)), nil)
	if res.OK || res.Reason != "bearer tokens are not accepted" || !strings.HasPrefix(res.WWWAuthenticate, `Bearer realm="shop"`) {
		t.Errorf("Authenticate(bearer, API keys only) = %+v", res)
	}
	ctx := authCtx("X-API-Key", f.apiKey, "x-id-sub", "forged")
	if res := a.Authenticate(ctx, nil); !res.OK || string(ctx.Request.Header.Peek("X-Id-Sub")) != "svc-a" || a.HeaderPrefix() != "X-Id-" {
		t.Errorf("Authenticate(custom prefix) = %+v, X-Id-Sub %q", res, ctx.Request.Header.Peek("X-Id-Sub"))
	}
}

func FuzzAuthenticate(f *testing.F) {
	fx := newAuthFixture(f)
	a, err := New(fx.opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("Bearer "+sign(f, jwt.SigningMethodES256, "ec-2", fx.claims(nil), fx.jwksEC), "")
	f.Add("Bearer "+sign(f, jwt.SigningMethodHS256, "", fx.claims(nil), fx.secret), "")
	f.Add("Bearer eyJhbGciOiJub25lIn0.e30.", "")
	f.Add("Bearer eyJhbGciOiJIUzI1NiIsImtpZCI6WzFdfQ.e30.AA", "")
	f.Add("ApiKey "+fx.apiKey, "")
	f.Add("", fx.apiKey)
	f.Add("Bearer", "")
	f.Fuzz(func(t *testing.T, authz, xKey string) {
		newCtx := func() *fasthttp.RequestCtx {
			ctx := &fasthttp.RequestCtx{}
			ctx.Request.Header.DisableNormalizing()
			ctx.Request.Header.Set("X-Edged-Auth-Sub", "forged")
			if authz != "" {
				ctx.Request.Header.Set("Authorization", authz)
			}
			if xKey != "" {
				ctx.Request.Header.Set("X-API-Key", xKey)
			}
			return ctx
		}
		ctx := newCtx()
		res := a.Authenticate(ctx, []string{"orders:read"})
		// The same credentials again (now possibly from the verified-token
		// cache) must give the same verdict and the same identity headers.
		ctx2 := newCtx()
		res2 := a.Authenticate(ctx2, []string{"orders:read"})
		if res.OK != res2.OK || res.Status != res2.Status || res.Reason != res2.Reason || res.Subject != res2.Subject {
			t.Fatalf("Authenticate twice = %+v, then %+v; want the same", res, res2)
		}
		if h1, h2 := identity(ctx, "X-Edged-Auth-"), identity(ctx2, "X-Edged-Auth-"); !reflect.DeepEqual(h1, h2) {
			t.Fatalf("identity headers = %v, then %v; want the same", h1, h2)
		}
		switch {
		case res.OK && (res.Status != 0 || res.Subject == ""):
			t.Fatalf("Authenticate = %+v: OK without subject", res)
		case !res.OK && res.Status != 401 && res.Status != 403:
			t.Fatalf("Authenticate = %+v: bad status", res)
		case !res.OK && strings.ContainsAny(res.WWWAuthenticate, "\r\n\x00"):
			t.Fatalf("Authenticate = %+v: challenge with control bytes", res)
		}
		for k, v := range ctx.Request.Header.All() {
			if strings.EqualFold(string(k), "X-Edged-Auth-Sub") && (string(v) == "forged" || !res.OK) {
				t.Fatalf("forged identity survived: %s: %s (result %+v)", k, v, res)
			}
			if strings.HasPrefix(strings.ToLower(string(k)), "x-edged-auth-") && strings.ContainsAny(string(v), "\r\n\x00") {
				t.Fatalf("header %s has control bytes: %q", k, v)
			}
		}
	})
}

func BenchmarkAuthenticateAPIKey(b *testing.B) {
	f := newAuthFixture(b)
	a, err := New(f.opts)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := authCtx("Host", "example.test", "User-Agent", "bench", "Accept", "*/*", "X-API-Key", f.apiKey)
		req := []string{"orders:read"}
		for pb.Next() {
			if res := a.Authenticate(ctx, req); !res.OK {
				b.Fatalf("Authenticate = %+v", res)
			}
		}
	})
}

// BenchmarkAuthenticateJWT measures one client reusing one token, with the
// verified-token cache on (the default) and off (every request verifies).
func BenchmarkAuthenticateJWT(b *testing.B) {
	f := newAuthFixture(b)
	claims := f.claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(time.Hour).Unix() })
	for _, alg := range []struct {
		name string
		tok  string
	}{
		{"ES256", sign(b, jwt.SigningMethodES256, "ec-2", claims, f.jwksEC)},
		{"RS256", sign(b, jwt.SigningMethodRS256, "", claims, f.rsaKey)},
		{"HS256", sign(b, jwt.SigningMethodHS256, "", claims, f.secret)},
	} {
		for _, cache := range []struct {
			name    string
			entries int
		}{{"cache=off", -1}, {"cache=on", 0}} {
			b.Run(alg.name+"/"+cache.name, func(b *testing.B) {
				o := f.opts
				o.JWTCacheEntries = cache.entries
				a, err := New(o)
				if err != nil {
					b.Fatal(err)
				}
				ctx := authCtx("Host", "example.test", "User-Agent", "bench", "Accept", "*/*", "Authorization", "Bearer "+alg.tok)
				req := []string{"orders:read"}
				b.ReportAllocs()
				for b.Loop() {
					if res := a.Authenticate(ctx, req); !res.OK {
						b.Fatalf("Authenticate = %+v", res)
					}
				}
			})
		}
	}
}

func TestStripIdentityHeadersSpellings(t *testing.T) {
	tests := []struct {
		name string
		in   []string // name, value pairs
		want int
	}{
		{"dashes", []string{"X-Edged-Auth-Sub", "a"}, 1},
		{"underscores", []string{"X_Edged_Auth_Sub", "a"}, 1},
		{"mixed and case", []string{"x_EDGED-auth_Scope", "a", "X-Edged_Auth-Key", "b"}, 2},
		{"other header", []string{"X-Edged-Authx", "a", "X_Edged_Aut", "b"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			h.DisableNormalizing()
			for i := 0; i+1 < len(tc.in); i += 2 {
				h.Add(tc.in[i], tc.in[i+1])
			}
			if got := StripIdentityHeaders(&h, []byte(DefaultHeaderPrefix)); got != tc.want {
				t.Errorf("StripIdentityHeaders(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

// TestWithDefaults: zero fields take the Default* values, set ones are kept,
// and the slices are copies the caller can no longer change.
func TestWithDefaults(t *testing.T) {
	now := func() time.Time { return time.Unix(1, 0) }
	set := Options{ClockSkew: time.Second, MaxTokenBytes: 1024, HeaderPrefix: "X-Id-", Realm: "shop",
		Now: now, JWTCacheEntries: -1, JWTCacheTTL: time.Minute * 5}
	tests := []struct {
		name string
		in   Options
		want Options // Now aside: funcs do not compare, it is checked apart
	}{
		{"zero fields take defaults", Options{}, Options{ClockSkew: DefaultClockSkew, MaxTokenBytes: DefaultMaxTokenBytes,
			HeaderPrefix: DefaultHeaderPrefix, Realm: DefaultRealm, JWTCacheEntries: DefaultJWTCacheEntries, JWTCacheTTL: DefaultJWTCacheTTL}},
		{"set fields kept", set, set},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.withDefaults()
			if got.Now == nil {
				t.Fatal("Now is nil")
			}
			if tc.in.Now != nil && !got.Now().Equal(now()) {
				t.Errorf("Now() = %v, want the caller's clock", got.Now())
			}
			got.Now, tc.want.Now = nil, nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("withDefaults = %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("slices copied", func(t *testing.T) {
		in := Options{JWTAlgorithms: []string{"RS256"}, ForwardClaims: []string{"email"}}
		got := in.withDefaults()
		in.JWTAlgorithms[0], in.ForwardClaims[0] = "none", "x"
		if got.JWTAlgorithms[0] != "RS256" || got.ForwardClaims[0] != "email" {
			t.Errorf("withDefaults shares the caller's slices: %q %q", got.JWTAlgorithms, got.ForwardClaims)
		}
	})
}
