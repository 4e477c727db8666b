package router

import (
	"testing"

	"github.com/edged/edged/proxy"
)

func newUpstream(t testing.TB, addr string, o proxy.Options) *proxy.Upstream {
	t.Helper()
	o.URL = "http://" + addr
	u, err := proxy.New("test", o, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}
