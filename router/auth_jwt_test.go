package router

import (
	"os"
	"strings"
	"testing"
)

func TestParseJWKSExample(t *testing.T) {
	data, err := os.ReadFile("testdata/auth/jwks.json")
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
	es, err := os.ReadFile("testdata/auth/es256.pub.pem")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := os.ReadFile("testdata/auth/rs256.pub.pem")
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
	data, err := os.ReadFile("testdata/auth/jwks.json")
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
	for _, p := range []string{"testdata/auth/es256.pub.pem", "testdata/auth/rs256.pub.pem"} {
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
