package isolate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/edged/edged/isolate"
	"github.com/edged/edged/limits"
)

// A Go service runs a guest as an http.Handler, under a deadline and a
// memory cap, with a warm instance ready.
func Example() {
	ctx := context.Background()
	rt, err := isolate.NewRuntime(ctx, isolate.RuntimeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(ctx)

	fn, err := rt.Load(ctx, isolate.Source{Path: "../examples/guests/hello-c/hello-c.wasm"}, isolate.FunctionOptions{
		Name:         "hello-c",
		Policy:       limits.Policy{Timeout: 100 * time.Millisecond, Memory: 4 * limits.MiB},
		MinInstances: 1,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close(ctx)

	srv := httptest.NewServer(fn)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/fast")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s", resp.StatusCode, body)
	// Output: 200 Hello from C
}

// A guest can sit in front of another handler as middleware: when it returns
// "next", the modified request goes on and the guest sees the response.
func ExampleFunction_Handler() {
	ctx := context.Background()
	rt, err := isolate.NewRuntime(ctx, isolate.RuntimeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(ctx)
	mw, err := rt.Load(ctx, isolate.Source{Path: "testdata/next.wasm"}, isolate.FunctionOptions{Name: "next"})
	if err != nil {
		log.Fatal(err)
	}
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Method, r.URL)
	})
	srv := httptest.NewServer(mw.Handler(backend))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/original")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s", resp.StatusCode, body)
	// Output: 203 wrapped:PUT /rewritten?by=next
}

// Errors from Handle are typed: branch with errors.Is, or let StatusOf pick
// the status a client should see.
func ExampleStatusOf() {
	ctx := context.Background()
	rt, err := isolate.NewRuntime(ctx, isolate.RuntimeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(ctx)
	loop, err := rt.Load(ctx, isolate.Source{Path: "testdata/loop.wasm"}, isolate.FunctionOptions{
		Name:   "loop",
		Policy: limits.Policy{Timeout: 20 * time.Millisecond},
	})
	if err != nil {
		log.Fatal(err)
	}
	var req isolate.Request
	var resp isolate.Response
	err = loop.Handle(ctx, &req, &resp, nil)
	fmt.Println(isolate.StatusOf(err), errors.Is(err, isolate.ErrDeadline))
	// Output: 504 true
}
