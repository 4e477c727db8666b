package router

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"time"

	"github.com/edged/edged/auth"
	"github.com/edged/edged/strangler"
	"github.com/valyala/fasthttp"
)

// Enqueuer publishes the requests of enqueue routes (strangler.Route.Enqueue)
// as events. The daemon backs it with the events engine, so the router knows
// nothing of NATS. Enqueue is called from many requests at once.
type Enqueuer interface {
	// Enqueue publishes ev on subject and returns once the engine has stored
	// it. When ev.ID is empty it draws one and sets it. Publishing an event
	// with the same Source and ID again within the engine's duplicate window
	// stores it once, and succeeds.
	Enqueue(ctx context.Context, subject string, ev *EnqueuedEvent) error
}

// EnqueuedEvent is a request accepted by an enqueue route, as the CloudEvent
// it is published as (binary mode: the body is the data).
type EnqueuedEvent struct {
	// ID is the CloudEvents id: derived from the client's Idempotency-Key
	// (or ce-id) header, so a retried request is stored once, else empty for
	// the Enqueuer to draw.
	ID string
	// Source is EnqueueSourcePrefix + the route's name.
	Source string
	// Type is the client's ce-type header, else DefaultEnqueueType.
	Type string
	// ContentType is the request's Content-Type.
	ContentType string
	// TraceParent continues the request's trace in the consumer.
	TraceParent string
	// Data is the request body. It is only valid during Enqueue.
	Data []byte
}

// Enqueue defaults and bounds.
const (
	// DefaultEnqueueType is the ce-type of an enqueued request that names none.
	DefaultEnqueueType = "edged.request"
	// EnqueueSourcePrefix, followed by the route name, is the ce-source of
	// the events an enqueue route publishes.
	EnqueueSourcePrefix = "edged/routes/"
	// EnqueueStatusPath, followed by the event id, is the admin API's status
	// of an enqueued event (the answer's "status").
	EnqueueStatusPath = "/v1/events/"
	// maxEnqueueAttr bounds the client's Idempotency-Key, ce-id and ce-type.
	maxEnqueueAttr = 256
	// enqueueTimeout bounds the wait for the engine to store an event.
	enqueueTimeout = 10 * time.Second
)

// enqueueAnswer is the body of a 202: the event id, and where its status is.
type enqueueAnswer struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// serveEnqueue publishes the request as an event on the route's subject and
// answers 202 with its id; 400 for a client attribute that is too long or not
// printable, 503 (Retry-After: 1) when the engine does not store it. It runs
// after the gateway (auth, rate limit, body cap), in place of a target.
func (s *Server) serveEnqueue(ctx *fasthttp.RequestCtx, ws *worldState, route *strangler.Route, x *exchange,
	id *auth.Result) {
	eq := ws.w.Enqueuer
	if eq == nil {
		s.log.Error("enqueue route but no Enqueuer in the World", "route", route.Name)
		writeStatus(ctx, fasthttp.StatusServiceUnavailable)
		return
	}
	ev := EnqueuedEvent{
		Source:      EnqueueSourcePrefix + route.Name,
		Type:        DefaultEnqueueType,
		ContentType: string(ctx.Request.Header.ContentType()),
		Data:        ctx.Request.Body(),
	}
	key := ctx.Request.Header.Peek("Idempotency-Key")
	if len(key) == 0 {
		key = ctx.Request.Header.Peek("ce-id")
	}
	typ := ctx.Request.Header.Peek("ce-type")
	if !enqueueAttrOK(key) || !enqueueAttrOK(typ) || !enqueueAttrOK([]byte(ev.ContentType)) {
		writeStatus(ctx, fasthttp.StatusBadRequest)
		return
	}
	if len(key) > 0 {
		// The id is the client's key hashed with the route and the client's
		// identity (as idempotency scopes keys): a retry dedupes, and no
		// client can make another's event look like a duplicate.
		var buf [128]byte
		h := sha256.New()
		h.Write(appendIdemScope(buf[:0], ws, ctx, route.Name, id))
		h.Write([]byte{0})
		h.Write(key)
		ev.ID = hex.EncodeToString(h.Sum(nil)[:16])
	}
	if len(typ) > 0 {
		ev.Type = string(typ)
	}
	if x.tr.on {
		ev.TraceParent = string(x.tr.traceparent(x.tr.root))
	} else if tp := ctx.Request.Header.Peek("traceparent"); enqueueAttrOK(tp) {
		ev.TraceParent = string(tp)
	}
	pctx, cancel := context.WithTimeout(context.Background(), enqueueTimeout)
	err := eq.Enqueue(pctx, route.Enqueue, &ev)
	cancel()
	if err != nil {
		s.log.Warn("enqueue failed", "route", route.Name, "subject", route.Enqueue, "err", err)
		writeStatus(ctx, fasthttp.StatusServiceUnavailable)
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
		return
	}
	body, _ := json.Marshal(enqueueAnswer{
		ID:     ev.ID,
		Status: EnqueueStatusPath + url.PathEscape(ev.ID) + "?source=" + url.QueryEscape(ev.Source),
	})
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(fasthttp.StatusAccepted)
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.SetBody(append(body, '\n'))
}

// enqueueAttrOK reports whether a client's value may become a CloudEvents
// attribute: at most maxEnqueueAttr bytes of printable ASCII.
func enqueueAttrOK(b []byte) bool {
	if len(b) > maxEnqueueAttr {
		return false
	}
	for _, c := range b {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}
