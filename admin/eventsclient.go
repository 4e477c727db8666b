package admin

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// The client side of the event endpoints, in every build: `edged dlq`,
// `edged events` and `edged publish` talk to a daemon that may have events
// even when this binary was built without them.

// StatePending is the state of an event no trigger has finished: waiting,
// being processed or retried, or never published.
const StatePending = "pending"

// DeadLetter is a dead letter as the admin API shows it (events.DeadLetter
// without the message: its data size only, since data may be large or
// sensitive).
type DeadLetter struct {
	Seq        uint64    `json:"seq"`
	ID         string    `json:"id"`
	Source     string    `json:"source"`
	Type       string    `json:"type"`
	Reason     string    `json:"reason"`
	Attempts   int       `json:"attempts"`
	LastStatus int       `json:"last_status,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	TraceID    string    `json:"trace_id,omitempty"`
	Subject    string    `json:"subject"`
	Time       time.Time `json:"time"`
	DataBytes  int       `json:"data_bytes"`
}

type deadLetterPage struct {
	Trigger     string       `json:"trigger"`
	DeadLetters []DeadLetter `json:"dead_letters"`
}

// RedriveRequest is the body of POST /v1/triggers/{name}/redrive: exactly
// one of ID and All.
type RedriveRequest struct {
	ID  string `json:"id,omitempty"`
	All bool   `json:"all,omitempty"`
}

type redriveAnswer struct {
	Redriven int `json:"redriven"`
}

// DeadLetters lists the dead letters of the trigger name (GET
// /v1/triggers/{name}/dead-letters), oldest first.
func (c *Client) DeadLetters(ctx context.Context, name string) ([]DeadLetter, error) {
	var out deadLetterPage
	err := c.do(ctx, http.MethodGet, "/v1/triggers/"+url.PathEscape(name)+"/dead-letters", nil, &out)
	return out.DeadLetters, err
}

// Redrive publishes dead letters of the trigger name again (POST
// /v1/triggers/{name}/redrive): the one with event id, or every one with all.
// It returns how many it redrove.
func (c *Client) Redrive(ctx context.Context, name string, req RedriveRequest) (int, error) {
	var out redriveAnswer
	err := c.do(ctx, http.MethodPost, "/v1/triggers/"+url.PathEscape(name)+"/redrive", req, &out)
	return out.Redriven, err
}

type publishAnswer struct {
	ID string `json:"id"`
}

// DefaultPublishType is the CloudEvents type of POST /v1/publish without one.
const DefaultPublishType = "edged.manual"

// Publish publishes data as a CloudEvent of type typ (DefaultPublishType when
// empty) on subject (POST /v1/publish) and returns its id.
func (c *Client) Publish(ctx context.Context, subject, typ string, data []byte) (string, error) {
	q := url.Values{"subject": {subject}}
	if typ != "" {
		q.Set("type", typ)
	}
	var out publishAnswer
	err := c.do(ctx, http.MethodPost, "/v1/publish?"+q.Encode(), rawBody(data), &out)
	return out.ID, err
}

// Trigger is a running trigger's state as the admin API shows it
// (events.Info).
type Trigger struct {
	Name        string `json:"name"`
	Subject     string `json:"subject,omitempty"`
	Schedule    string `json:"schedule,omitempty"`
	DeadLetter  string `json:"dead_letter"`
	Dedup       string `json:"dedup"`
	Stream      string `json:"stream"`
	Consumer    string `json:"consumer"`
	Pending     uint64 `json:"pending"`
	InFlight    int    `json:"in_flight"`
	Redelivered int    `json:"redelivered"`
	Delivered   uint64 `json:"delivered"`
	DeadLetters uint64 `json:"dead_letters"`
}

type triggerPage struct {
	Triggers []Trigger `json:"triggers"`
}

// Triggers returns the state of every running trigger (GET /v1/triggers).
func (c *Client) Triggers(ctx context.Context) ([]Trigger, error) {
	var out triggerPage
	err := c.do(ctx, http.MethodGet, "/v1/triggers", nil, &out)
	return out.Triggers, err
}
