package limits_test

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"

	"github.com/edged/edged/limits"
)

func ExampleParseSize() {
	for _, s := range []string{"64KiB", "16 MB", "1500", "1gib"} {
		n, err := limits.ParseSize(s)
		fmt.Println(int64(n), n, err)
	}
	// Output:
	// 65536 64KiB <nil>
	// 16000000 16MB <nil>
	// 1500 1500B <nil>
	// 1073741824 1GiB <nil>
}

func ExamplePolicy() {
	p := limits.Policy{Memory: 16 * limits.MiB}.WithDefaults()
	fmt.Println(p.Timeout, p.Memory, p.MemoryPages(), p.MaxLogBytes, p.Egress.MaxSubrequests)
	fmt.Println(limits.Policy{Timeout: -1, Memory: 1000}.Validate())
	// Output:
	// 1s 16MiB 256 64KiB 0
	// timeout: must be > 0
	// memory: must be at least 64KiB (one wasm page), got 1KB
}

func ExampleEgress_Allowed() {
	api, _ := limits.ParsePattern("https://*.example.com")
	e := limits.Egress{Allow: []limits.Pattern{api}}

	u, _ := url.Parse("https://cdn.example.com/logo.png")
	p, err := e.Allowed(u)
	fmt.Println(p, err)

	u, _ = url.Parse("https://example.org/")
	_, err = e.Allowed(u)
	fmt.Println(err, errors.Is(err, limits.ErrEgressDenied))

	// The name is allowed, but it resolved to the cloud metadata address.
	err = limits.CheckAddr(p, netip.MustParseAddr("169.254.169.254"))
	fmt.Println(errors.Is(err, limits.ErrPrivateAddress))
	// Output:
	// https://*.example.com <nil>
	// egress to "https://example.org/": egress denied true
	// true
}
