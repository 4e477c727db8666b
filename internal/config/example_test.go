package config_test

import (
	"fmt"

	"github.com/edged/edged/internal/config"
)

// Decode reports every problem at once, each with its key path.
func ExampleDecode() {
	_, err := config.Decode([]byte(`
[admin]
listen = "0.0.0.0:9901"
token_file = "admin.token"

[upstreams.app]
url = "http://127.0.0.1:9000/v1"

[[routes]]
name = "api"
path = "api"
stage = "canary"
upstream = "app"
weight = 250
`), "")
	fmt.Println(err)
	// Output:
	// admin.listen: "0.0.0.0:9901" is not a loopback address; set admin.allow_remote = true to expose the admin API
	// upstreams.app.url: "http://127.0.0.1:9000/v1": only scheme://host[:port] is allowed (no path, query or fragment)
	// routes[0].path: "api" must start with "/"
	// routes[0].function: required at the canary stage
	// routes[0].weight: must be between 0 and 100
}
