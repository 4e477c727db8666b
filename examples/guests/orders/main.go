//go:build wasip1

// Command orders is the quick start's event handler: the trigger "orders" runs
// it for every event on orders.new, which the route POST /orders/async enqueues.
// It logs the order and answers 200 (done). An order with "fail": true answers
// 500, as a function with a bug would: edged retries it and then dead-letters it,
// so `edged dlq list orders` shows it and `edged dlq redrive orders` sends it
// back. A body that is not a JSON order answers 422: retrying cannot fix it, so
// edged dead-letters it at once.
//
// The function's config (`config = "..."` in [functions.orders]) "fixes" it:
// with config "ignore-fail", "fail" is ignored, so after `edged reload` a
// redriven order is processed.
//
// Build (or run examples/build-guests.sh):
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -ldflags=-buildid= -o orders.wasm .
package main

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/edged/edged/isolate/guest"
)

func main() {}

// maxBody bounds what is read; the host has its own cap on event data.
const maxBody = 64 << 10

type order struct {
	Item string `json:"item"`
	Qty  int    `json:"qty"`
	Fail bool   `json:"fail"`
}

func init() {
	guest.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusInternalServerError)
			return
		}
		var o order
		if len(body) > maxBody {
			http.Error(w, "order too large", http.StatusUnprocessableEntity)
			return
		}
		if err := json.Unmarshal(body, &o); err != nil {
			http.Error(w, "not a JSON order: "+err.Error(), http.StatusUnprocessableEntity)
			return
		}
		id := r.Header.Get("Ce-Id")
		if o.Fail && string(guest.Config()) != "ignore-fail" {
			guest.Log(guest.LevelWarn, "order failed", "id", id, "item", o.Item)
			http.Error(w, "order failed: asked to", http.StatusInternalServerError)
			return
		}
		guest.Log(guest.LevelInfo, "order processed", "id", id, "item", o.Item, "qty", o.Qty)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "processed\n")
	})
}
