// Command gwfixture writes the key material of scripts/loadtest-gateway.sh into a
// directory and prints the credentials a load client sends:
//
//	gwfixture -dir DIR -issuer ISS -audience AUD
//
// It writes DIR/jwt.pem (the public half of a fresh P-256 key) and DIR/api.keys (one
// hashed API key named "load"), and prints two lines: an ES256 token for subject
// "load-client" valid for a day, and the plaintext API key. Test keys only: the
// private key is never written.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/edged/edged/auth"
	"github.com/golang-jwt/jwt/v5"
)

func main() {
	dir := flag.String("dir", ".", "directory to write jwt.pem and api.keys into")
	issuer := flag.String("issuer", "https://issuer.load.test", "iss claim")
	audience := flag.String("audience", "edged-load", "aud claim")
	flag.Parse()
	if err := run(*dir, *issuer, *audience); err != nil {
		fmt.Fprintln(os.Stderr, "gwfixture:", err)
		os.Exit(1)
	}
}

func run(dir, issuer, audience string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "jwt.pem"), pub, 0o644); err != nil {
		return err
	}
	apiKey, err := auth.NewKey()
	if err != nil {
		return err
	}
	line, err := auth.KeyLine(apiKey, "load", "load:read")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "api.keys"), []byte(line+"\n"), 0o600); err != nil {
		return err
	}
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": issuer, "aud": audience, "sub": "load-client", "scope": "load:read",
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(24 * time.Hour).Unix(),
	}).SignedString(key)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	fmt.Println(apiKey)
	return nil
}
