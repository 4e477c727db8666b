package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/edged/edged/cost"
)

// maxAnswer bounds what Client reads of one answer: the largest, a cost
// report or a page of events, is far below it.
const maxAnswer = 64 << 20

// Client calls an admin API with its bearer token. Its methods decode the
// answers into the types API encodes. Safe for concurrent use.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// NewClient returns a Client of the admin API at baseURL (as
// "http://127.0.0.1:9901") that sends token. hc makes the requests (its
// Timeout bounds each call); nil uses http.DefaultClient.
func NewClient(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), token: token, hc: hc}
}

// Error is an answer of the admin API other than 2xx: its status and the
// API's message.
type Error struct {
	Status  int
	Message string
}

// Error implements error: "admin API: 404 route "x" not found".
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("admin API: %d %s", e.Status, msg)
}

// Routes returns every route (GET /v1/routes).
func (c *Client) Routes(ctx context.Context) ([]Route, error) {
	var out routeList
	err := c.do(ctx, http.MethodGet, "/v1/routes", nil, &out)
	return out.Routes, err
}

// Route returns the named route with its numbers, events, plan and gates
// (GET /v1/routes/{name}); an unknown route is an *Error with status 404.
func (c *Client) Route(ctx context.Context, name string) (RouteDetail, error) {
	var out RouteDetail
	err := c.do(ctx, http.MethodGet, "/v1/routes/"+url.PathEscape(name), nil, &out)
	return out, err
}

// Promote moves the route one step forward (the next stage, or the next
// canary weight of its plan) and returns it as changed; reason goes into the
// event history.
func (c *Client) Promote(ctx context.Context, name, reason string) (Route, error) {
	return c.act(ctx, name, "promote", actionBody{Reason: reason})
}

// Rollback moves the route one step back and returns it as changed.
func (c *Client) Rollback(ctx context.Context, name, reason string) (Route, error) {
	return c.act(ctx, name, "rollback", actionBody{Reason: reason})
}

// Pause stops the migration controller from moving the route.
func (c *Client) Pause(ctx context.Context, name, reason string) (Route, error) {
	return c.act(ctx, name, "pause", actionBody{Reason: reason})
}

// Resume lets the migration controller move the route again.
func (c *Client) Resume(ctx context.Context, name, reason string) (Route, error) {
	return c.act(ctx, name, "resume", actionBody{Reason: reason})
}

// SetWeight sets a canary route's weight, 0..100 (the API answers 409 for a
// route in another stage).
func (c *Client) SetWeight(ctx context.Context, name string, weight int, reason string) (Route, error) {
	return c.act(ctx, name, "weight", actionBody{Reason: reason, Weight: &weight})
}

// act posts a route action (POST /v1/routes/{name}/{action}).
func (c *Client) act(ctx context.Context, name, action string, body actionBody) (Route, error) {
	var out routeAnswer
	err := c.do(ctx, http.MethodPost, "/v1/routes/"+url.PathEscape(name)+"/"+action, body, &out)
	return out.Route, err
}

// StartRecording starts recording the route named name into a corpus
// (POST /v1/routes/{name}/record/start).
func (c *Client) StartRecording(ctx context.Context, name string) (RecordingState, error) {
	var out RecordingState
	err := c.do(ctx, http.MethodPost, "/v1/routes/"+url.PathEscape(name)+"/record/start", nil, &out)
	return out, err
}

// StopRecording stops it and returns what it wrote (POST
// /v1/routes/{name}/record/stop).
func (c *Client) StopRecording(ctx context.Context, name string) (RecordingState, error) {
	var out RecordingState
	err := c.do(ctx, http.MethodPost, "/v1/routes/"+url.PathEscape(name)+"/record/stop", nil, &out)
	return out, err
}

// Reload asks the daemon to reload its configuration file (POST
// /v1/reload); a file it refuses is an *Error with status 422.
func (c *Client) Reload(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/reload", nil, nil)
}

// Events returns up to limit events with a sequence number above since,
// oldest first (GET /v1/events); limit <= 0 takes the API's default (100),
// and the API caps it at 1000. Page on with the last event's Seq.
func (c *Client) Events(ctx context.Context, since uint64, limit int) ([]Event, error) {
	q := url.Values{}
	if since > 0 {
		q.Set("since", strconv.FormatUint(since, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/events"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out eventPage
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Events, err
}

// Cost returns the cost report (GET /v1/cost).
func (c *Client) Cost(ctx context.Context) (cost.Report, error) {
	var out cost.Report
	err := c.do(ctx, http.MethodGet, "/v1/cost", nil, &out)
	return out, err
}

// rawBody is a request body do sends as is (application/octet-stream), not as
// JSON.
type rawBody []byte

// do sends a JSON request (in may be nil) and decodes a 2xx JSON answer into out
// (which may be nil). Other answers become an *Error carrying the API's message.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	contentType := "application/json"
	switch v := in.(type) {
	case nil:
	case rawBody:
		body, contentType = bytes.NewReader(v), "application/octet-stream"
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("admin request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("admin API: read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &Error{Status: resp.StatusCode, Message: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API: decode %s %s: %w", method, path, err)
	}
	return nil
}
