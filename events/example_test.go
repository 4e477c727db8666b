package events_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/edged/edged/events"
)

// An embedded server, a queue trigger and one event delivered to a function
// as a CloudEvents HTTP request.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "events-example")
	defer os.RemoveAll(dir)

	srv, err := events.Open(ctx, events.Options{StoreDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close(ctx)

	done := make(chan struct{})
	fn := events.InvokerFunc(func(ctx context.Context, req *http.Request) (int, http.Header, error) {
		body, _ := io.ReadAll(req.Body)
		fmt.Printf("%s %s: %s\n", req.Header.Get("ce-type"), req.Header.Get("ce-source"), body)
		close(done)
		return http.StatusOK, nil, nil
	})
	if _, err := srv.Subscribe(ctx, events.Trigger{Name: "orders", Subject: "orders"}, fn); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := srv.Publish(ctx, "orders", "com.example.order.created", []byte(`{"order":42}`)); err != nil {
		fmt.Println(err)
		return
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		fmt.Println("timeout")
	}
	// Output: com.example.order.created edged: {"order":42}
}
