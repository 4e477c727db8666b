package admin_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/edged/edged/admin"
	"github.com/edged/edged/router"
	"github.com/edged/edged/strangler"
)

// The admin API in front of a routing table and its Server, and the typed
// Client the CLI uses: promote a route out of legacy and read it back.
func Example() {
	table, err := strangler.NewTable([]strangler.Route{
		{Name: "users", Path: "/api/users", Upstream: "monolith", Function: "users", Step: -1},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv, err := router.NewServer(router.Config{Table: table}, nil)
	if err != nil {
		log.Fatal(err)
	}
	api, err := admin.New(admin.Config{Table: table, Server: srv, Token: []byte("s3cret")})
	if err != nil {
		log.Fatal(err)
	}
	hs := httptest.NewServer(api) // edged serves it on [admin] listen, loopback by default
	defer hs.Close()

	ctx := context.Background()
	c := admin.NewClient(hs.URL, "s3cret", nil)
	r, err := c.Promote(ctx, "users", "mirror traffic first")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Name, "is now", r.Stage)
	d, err := c.Route(ctx, "users")
	if err != nil {
		log.Fatal(err)
	}
	e := d.Events[0]
	fmt.Printf("event %d: %s %s -> %s by %s (%s)\n", e.Seq, e.Kind, e.From, e.To, e.Actor, e.Reason)
	if _, err := admin.NewClient(hs.URL, "wrong", nil).Routes(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// users is now shadow
	// event 1: promote legacy -> shadow by admin (mirror traffic first)
	// admin API: 401 missing or invalid bearer token
}
