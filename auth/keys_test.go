package auth

import (
	"crypto/sha256"
	"os"
	"strings"
	"testing"
)

func TestLoadAPIKeyFileExample(t *testing.T) {
	keys, err := loadAPIKeyFile("testdata/apikeys.txt")
	if err != nil {
		t.Fatalf("loadAPIKeyFile(example) = %v", err)
	}
	tests := []struct {
		key, name, scopes string
	}{
		{"example-key-billing", "billing", "orders:read orders:write"},
		{"example-key-reports-old", "reports", "reports:read"},
		{"example-key-reports-new", "reports", "reports:read"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			e := keys[sha256.Sum256([]byte(tc.key))]
			if e == nil || e.nameStr != tc.name || string(e.scopeValue) != tc.scopes || strings.Join(e.scopes, " ") != tc.scopes {
				t.Fatalf("keys[sha256(%q)] = %+v, want %s %s", tc.key, e, tc.name, tc.scopes)
			}
		})
	}
	if len(keys) != len(tests) {
		t.Errorf("loadAPIKeyFile(example) has %d keys, want %d", len(keys), len(tests))
	}
	// No plaintext key is in the file.
	data, _ := os.ReadFile("testdata/apikeys.txt")
	for _, tc := range tests {
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(line, "#") && strings.Contains(line, tc.key) {
				t.Errorf("example file holds plaintext key %q", tc.key)
			}
		}
	}
}

func TestParseAPIKeysErrors(t *testing.T) {
	_, err := loadAPIKeyFile("testdata/bad_apikeys.txt")
	if err == nil {
		t.Fatal("loadAPIKeyFile(bad) = nil, want error")
	}
	for _, want := range []string{"line 2: hash must be sha256:", "line 3: hash must be", `line 4: name "bad/name"`,
		`line 5: scope "bad\"scope"`, "line 6: want"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("loadAPIKeyFile(bad) = %v, want it to mention %q", err, want)
		}
	}
	h := HashKey("k")
	tests := []struct {
		name, data, want string
	}{
		{"duplicate hash", h + " a\n" + h + " b\n", "line 2: duplicate key hash"},
		{"upper-case prefix", strings.Replace(h, "sha256:", "SHA256:", 1) + " a\n", "line 1: hash must be"},
		{"too many scopes", h + " a" + strings.Repeat(" s", 65) + "\n", "at most 64 scopes"},
		{"long name", h + " " + strings.Repeat("n", 65) + "\n", "must be 1-64 characters"},
		{"empty file", "", ""},
		{"comments only", "# nothing\n\n   \n", ""},
		{"CRLF lines", h + " a s1\r\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseAPIKeys([]byte(tc.data))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("parseAPIKeys(%q) = %v, want nil", tc.data, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseAPIKeys(%q) = %v, want %q", tc.data, err, tc.want)
			}
		})
	}
}

func TestAPIKeyLine(t *testing.T) {
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "edk_") || len(key) != 47 || !validAPIKey([]byte(key)) {
		t.Errorf("NewKey() = %q, want edk_ and 43 base64url characters", key)
	}
	if other, _ := NewKey(); other == key {
		t.Errorf("NewKey() twice = %q", key)
	}
	line, err := KeyLine(key, "svc", "a:read", "b")
	if err != nil {
		t.Fatalf("KeyLine = %v", err)
	}
	if strings.Contains(line, key) || line != HashKey(key)+" svc a:read b" {
		t.Errorf("KeyLine(%q) = %q", key, line)
	}
	keys, err := parseAPIKeys([]byte(line))
	if err != nil || keys[sha256.Sum256([]byte(key))] == nil {
		t.Errorf("parseAPIKeys(KeyLine()) = %v, %v; want the key", keys, err)
	}
	if HashKey("test") != "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Errorf("HashKey(%q) = %q", "test", HashKey("test"))
	}
	for _, tc := range []struct{ name, key, keyName, scope string }{
		{"space in key", "a b", "n", "s"},
		{"empty key", "", "n", "s"},
		{"bad name", "k", "a b", "s"},
		{"bad scope", "k", "n", `a"b`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := KeyLine(tc.key, tc.keyName, tc.scope); err == nil {
				t.Errorf("KeyLine(%q, %q, %q) = %q, want error", tc.key, tc.keyName, tc.scope, l)
			}
		})
	}
}

func FuzzParseAPIKeys(f *testing.F) {
	for _, p := range []string{"testdata/apikeys.txt", "testdata/bad_apikeys.txt"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("sha256:" + strings.Repeat("0", 64) + " a\x00 b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseAPIKeys(data)
		if err != nil {
			if keys != nil {
				t.Fatalf("parseAPIKeys = %v with error %v", keys, err)
			}
			return
		}
		for _, e := range keys {
			if checkAPIKeyName(e.nameStr) != nil || strings.ContainsAny(string(e.scopeValue), "\r\n\x00\"\\") {
				t.Fatalf("parseAPIKeys accepted an entry unsafe as a header value: %+v", e)
			}
		}
	})
}
