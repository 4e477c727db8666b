package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The API key file holds one key per line, hashed, never in plaintext:
//
//	# comment; blank lines are ignored
//	sha256:<64 lowercase hex digits of SHA-256(key)> <name> [scope ...]
//
// Fields are separated by spaces or tabs. The name (1–64 of A–Z a–z 0–9 . _ - @)
// identifies the caller: it becomes the subject and the Key identity header.
// Several lines may share a name, which is how a key is rotated without a gap:
// add the new key's line, reload, hand the new key out, remove the old line,
// reload. Scopes are RFC 6749 scope-tokens (printable ASCII without space, '"'
// and '\'), at most 64 per key. A hash may appear only once. KeyLine
// produces a line from a key; NewKey makes a random key.
const (
	apiKeyHashPrefix = "sha256:"
	// maxAPIKeyFileBytes bounds what a reload reads: a key file is a few KiB.
	maxAPIKeyFileBytes = 8 << 20
	maxAPIKeys         = 100_000
	maxAPIKeyScopes    = 64
	maxAPIKeyNameLen   = 64
	maxScopeLen        = 128
	// maxAPIKeyLen bounds a presented key: longer ones are refused before
	// hashing. NewKey's keys are 47 bytes.
	maxAPIKeyLen = 512
)

// apiKeyEntry is one loaded key: only the SHA-256 of the key is kept.
type apiKeyEntry struct {
	name       []byte // header value, validated at load
	nameStr    string
	scopes     []string
	scopeValue []byte // scopes joined by spaces, the Scope header value
}

// HashKey returns the stored form of key: "sha256:" and the lowercase hex
// SHA-256 of its bytes.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return apiKeyHashPrefix + hex.EncodeToString(sum[:])
}

// KeyLine returns the API key file line for key (without a newline):
// its hash, name and scopes. It fails, naming the problem, when the key is
// empty, longer than 512 bytes or has bytes other than printable ASCII, or when
// the name or a scope is not allowed by the file format.
func KeyLine(key, name string, scopes ...string) (string, error) {
	var errs []error
	if !validAPIKey([]byte(key)) {
		errs = append(errs, fmt.Errorf("api key: must be 1-%d printable ASCII bytes", maxAPIKeyLen))
	}
	if err := checkAPIKeyName(name); err != nil {
		errs = append(errs, err)
	}
	if len(scopes) > maxAPIKeyScopes {
		errs = append(errs, fmt.Errorf("scopes: at most %d", maxAPIKeyScopes))
	}
	for _, s := range scopes {
		if err := checkScope(s); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return strings.Join(append([]string{HashKey(key), name}, scopes...), " "), nil
}

// NewKey returns a new random API key: "edk_" and 256 random bits in
// unpadded base64url. Its error comes from the system's random source.
func NewKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new api key: %w", err)
	}
	return "edk_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// validAPIKey reports whether a presented key is worth hashing.
func validAPIKey(k []byte) bool {
	if len(k) == 0 || len(k) > maxAPIKeyLen {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func checkAPIKeyName(name string) error {
	if name == "" || len(name) > maxAPIKeyNameLen {
		return fmt.Errorf("name %q: must be 1-%d characters", name, maxAPIKeyNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			return fmt.Errorf("name %q: only A-Z a-z 0-9 . _ - @ are allowed", name)
		}
	}
	return nil
}

// checkScope checks an RFC 6749 scope-token: %x21 / %x23-5B / %x5D-7E.
func checkScope(s string) error {
	if s == "" || len(s) > maxScopeLen {
		return fmt.Errorf("scope %q: must be 1-%d characters", s, maxScopeLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return fmt.Errorf("scope %q: only printable ASCII without space, '\"' and '\\'", s)
		}
	}
	return nil
}

// loadAPIKeyFile reads and parses the API key file at path.
func loadAPIKeyFile(path string) (map[[32]byte]*apiKeyEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("api key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("api key file %q: %w", path, err)
	}
	if st.Size() > maxAPIKeyFileBytes {
		return nil, fmt.Errorf("api key file %q: larger than %d bytes", path, maxAPIKeyFileBytes)
	}
	data := make([]byte, 0, st.Size())
	buf := bytes.NewBuffer(data)
	if _, err := buf.ReadFrom(bufio.NewReader(f)); err != nil {
		return nil, fmt.Errorf("api key file %q: %w", path, err)
	}
	keys, err := parseAPIKeys(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("api key file %q: %w", path, err)
	}
	return keys, nil
}

// parseAPIKeys parses the API key file format; every bad line is reported.
func parseAPIKeys(data []byte) (map[[32]byte]*apiKeyEntry, error) {
	if len(data) > maxAPIKeyFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxAPIKeyFileBytes)
	}
	keys := make(map[[32]byte]*apiKeyEntry)
	var errs []error
	lineNo := 0
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		lineNo++
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if len(errs) >= 20 {
			errs = append(errs, errors.New("too many errors"))
			break
		}
		fields := strings.Fields(string(line))
		if len(fields) < 2 {
			errs = append(errs, fmt.Errorf("line %d: want \"sha256:<hex> name [scope ...]\"", lineNo))
			continue
		}
		hexSum, ok := strings.CutPrefix(fields[0], apiKeyHashPrefix)
		var sum [32]byte
		// Length first: hex.Decode writes len/2 bytes into sum.
		if !ok || len(hexSum) != 64 {
			errs = append(errs, fmt.Errorf("line %d: hash must be %s and 64 hex digits (not a plaintext key)", lineNo, apiKeyHashPrefix))
			continue
		}
		if _, err := hex.Decode(sum[:], []byte(hexSum)); err != nil {
			errs = append(errs, fmt.Errorf("line %d: hash must be %s and 64 hex digits (not a plaintext key)", lineNo, apiKeyHashPrefix))
			continue
		}
		lineErr := false
		if err := checkAPIKeyName(fields[1]); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", lineNo, err))
			lineErr = true
		}
		scopes := fields[2:]
		if len(scopes) > maxAPIKeyScopes {
			errs = append(errs, fmt.Errorf("line %d: at most %d scopes", lineNo, maxAPIKeyScopes))
			lineErr = true
		}
		for _, s := range scopes {
			if err := checkScope(s); err != nil {
				errs = append(errs, fmt.Errorf("line %d: %w", lineNo, err))
				lineErr = true
			}
		}
		if _, dup := keys[sum]; dup {
			errs = append(errs, fmt.Errorf("line %d: duplicate key hash", lineNo))
			lineErr = true
		}
		if lineErr {
			continue
		}
		if len(keys) >= maxAPIKeys {
			errs = append(errs, fmt.Errorf("line %d: more than %d keys", lineNo, maxAPIKeys))
			break
		}
		keys[sum] = &apiKeyEntry{
			name:       []byte(fields[1]),
			nameStr:    fields[1],
			scopes:     scopes,
			scopeValue: []byte(strings.Join(scopes, " ")),
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return keys, nil
}
