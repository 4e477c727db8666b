package auth_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/edged/edged/auth"
	"github.com/valyala/fasthttp"
)

// Example makes an API key, writes its hashed line to a key file, and
// authenticates a request presenting the key.
func Example() {
	dir, err := os.MkdirTemp("", "auth-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	key, err := auth.NewKey() // hand this to the client; store only its line
	if err != nil {
		fmt.Println(err)
		return
	}
	line, err := auth.KeyLine(key, "billing", "orders:read")
	if err != nil {
		fmt.Println(err)
		return
	}
	keyFile := filepath.Join(dir, "apikeys.txt")
	if err := os.WriteFile(keyFile, []byte(line+"\n"), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	a, err := auth.New(auth.Options{APIKeyFile: keyFile})
	if err != nil {
		fmt.Println(err)
		return
	}

	var ctx fasthttp.RequestCtx
	ctx.Request.Header.Set("X-API-Key", key)
	ctx.Request.Header.Set("X-Edged-Auth-Sub", "forged") // deleted before the check
	res := a.Authenticate(&ctx, []string{"orders:read"})
	fmt.Println(res.OK, res.Method, res.Subject)
	fmt.Println(string(ctx.Request.Header.Peek("X-Edged-Auth-Sub")))

	res = a.Authenticate(&ctx, []string{"orders:write"})
	fmt.Println(res.Status, res.Err)
	// Output:
	// true api-key billing
	// billing
	// 403 auth: insufficient scope
}
