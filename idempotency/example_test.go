package idempotency_test

import (
	"fmt"

	"github.com/edged/edged/idempotency"
	"github.com/valyala/fasthttp"
)

// Example runs a charge twice with the same Idempotency-Key: the second
// request is answered from the store and the charge runs once.
func Example() {
	h, err := idempotency.NewHandler(nil, idempotency.Options{}) // nil: a MemoryStore
	if err != nil {
		fmt.Println(err)
		return
	}
	charges := 0
	charge := idempotency.NextFunc(func(ctx *fasthttp.RequestCtx) {
		charges++
		ctx.SetStatusCode(fasthttp.StatusCreated)
		fmt.Fprintf(ctx, `{"charge":%d}`, charges)
	})
	scope := []byte("payments\x00customer-7") // route and client identity

	for range 2 {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(fasthttp.MethodPost)
		ctx.Request.SetRequestURI("/charges")
		ctx.Request.Header.Set(idempotency.KeyHeader, "order-42")
		ctx.Request.SetBodyString(`{"amount":100}`)
		h.Handle(&ctx, scope, charge)
		fmt.Printf("%d %s replayed=%q\n", ctx.Response.StatusCode(), ctx.Response.Body(),
			ctx.Response.Header.Peek(idempotency.ReplayedHeader))
	}
	fmt.Println("charges:", charges)
	// Output:
	// 201 {"charge":1} replayed=""
	// 201 {"charge":1} replayed="true"
	// charges: 1
}
