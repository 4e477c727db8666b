package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edged/edged/cost"
	"github.com/edged/edged/router"
	"github.com/edged/edged/strangler"
	"github.com/edged/edged/strangler/migrate"
)

// Config configures the admin API. Table and Token are required.
type Config struct {
	// Table is the routing table the API reads and changes.
	Table *strangler.Table
	// Server supplies route statistics, metrics (GET /metrics, where the
	// migration metrics are registered too) and the cost report; nil leaves
	// them out.
	Server *router.Server
	// Token is the bearer token every /v1/ request must carry. It is compared in
	// constant time (of its SHA-256, so not even its length leaks).
	Token []byte
	// Reload serves POST /v1/reload; nil answers 501.
	Reload func(ctx context.Context) error
	// Ready serves GET /readyz; nil means always ready.
	Ready func() bool
	// Logger receives the admin actions taken (at Info) and failures; nil discards.
	Logger *slog.Logger
	// Durable, when set, is called after a route action succeeded and must
	// return once the change is on disk (migrate.Persister.WaitSaved): a
	// 200 then means the change survives a crash. An error answers 500 (the
	// change is applied but may not survive a crash).
	Durable func(ctx context.Context) error
	// Mover, when set, makes the route actions (promote, rollback, pause,
	// resume, weight) instead of Table: a fleet's shared state store, so an
	// action on any node changes every node. Its strangler.ErrUnavailable
	// answers 503 (the change was not made). nil means Table.
	Mover strangler.Mover
	// Controller, when set, supplies each route's migration plan (promote and
	// rollback follow its steps) and the judgement of its gates, shown by
	// GET /v1/routes/{name} and the dashboard.
	Controller *migrate.Controller
	// Pricing prices GET /v1/cost (see Server.CostReport) when the Server's current
	// World has no Pricing of its own (World.Pricing wins, so that prices follow
	// a reload); nil uses cost.DefaultPricing.
	Pricing *cost.Pricing
	// Events serves GET /v1/events/{id} (an event's state) and the dead
	// letters of triggers (GET /v1/triggers/{name}/dead-letters, POST
	// /v1/triggers/{name}/redrive); nil answers 501.
	Events EventsEngine
	// Recorder serves POST /v1/routes/{name}/record/{start|stop}; nil
	// answers 501.
	Recorder Recorder
	// Fleet serves GET /v1/fleet and GET /v1/fleet/events when the node is
	// in a fleet ([fleet] state = "nats"); nil answers 501.
	Fleet Fleet
}

// Actor is the Event.Actor of changes made through the admin API.
const Actor = "admin"

// API is the admin API: a net/http handler meant for its own loopback listener (see
// docs/admin-api.md). Every /v1/ endpoint needs "Authorization: Bearer
// TOKEN"; /healthz, /readyz, /metrics and /dashboard do not. Answers are JSON; errors
// are {"error": "..."} with 400 (bad body), 401 (token), 404 (route or path), 405
// (method, with Allow), 409 (the action does not apply to the route's stage). API is
// safe for concurrent use.
type API struct {
	c     Config
	token [sha256.Size]byte
	log   *slog.Logger
	mux   *http.ServeMux
}

var _ http.Handler = (*API)(nil)

// New validates c and returns the API. With both a Controller and a Server it
// registers the migration metrics (edged_migration_*) on the Server's
// Registerer, so one Server takes one API.
func New(c Config) (*API, error) {
	if c.Table == nil {
		return nil, errors.New("admin: Config.Table is required")
	}
	if len(c.Token) == 0 {
		return nil, errors.New("admin: Config.Token is required")
	}
	if c.Controller != nil && c.Server != nil {
		if err := c.Server.Registerer().Register(newMigrationCollector(c.Table, c.Controller)); err != nil {
			return nil, fmt.Errorf("admin: migration metrics: %w", err)
		}
	}
	a := &API{c: c, token: sha256.Sum256(c.Token), log: c.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", a.method(http.MethodGet, a.healthz))
	mux.HandleFunc("/readyz", a.method(http.MethodGet, a.readyz))
	mux.HandleFunc("/metrics", a.method(http.MethodGet, a.metrics))
	mux.HandleFunc("/dashboard", a.method(http.MethodGet, serveDashboard))
	mux.HandleFunc("/v1/routes", a.auth(a.method(http.MethodGet, a.listRoutes)))
	mux.HandleFunc("/v1/routes/{name}", a.auth(a.method(http.MethodGet, a.getRoute)))
	mux.HandleFunc("/v1/routes/{name}/{action}", a.auth(a.method(http.MethodPost, a.routeAction)))
	mux.HandleFunc("/v1/routes/{name}/record/{op}", a.auth(a.method(http.MethodPost, a.record)))
	mux.HandleFunc("/v1/reload", a.auth(a.method(http.MethodPost, a.reload)))
	mux.HandleFunc("/v1/events", a.auth(a.method(http.MethodGet, a.events)))
	mux.HandleFunc("/v1/events/{id}", a.auth(a.method(http.MethodGet, a.eventStatus)))
	mux.HandleFunc("/v1/triggers", a.auth(a.method(http.MethodGet, a.triggers)))
	mux.HandleFunc("/v1/triggers/{name}/dead-letters", a.auth(a.method(http.MethodGet, a.deadLetters)))
	mux.HandleFunc("/v1/triggers/{name}/redrive", a.auth(a.method(http.MethodPost, a.redrive)))
	mux.HandleFunc("/v1/publish", a.auth(a.method(http.MethodPost, a.publish)))
	mux.HandleFunc("/v1/cost", a.auth(a.method(http.MethodGet, a.cost)))
	mux.HandleFunc("/v1/fleet", a.auth(a.method(http.MethodGet, a.fleetStatus)))
	mux.HandleFunc("/v1/fleet/events", a.auth(a.method(http.MethodGet, a.fleetEvents)))
	mux.HandleFunc("/", a.auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "not found")
	}))
	a.mux = mux
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// auth checks the bearer token before anything else, so that an unauthenticated
// caller learns nothing, not even which routes or methods exist.
func (a *API) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], a.token[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edged"`)
			writeJSONError(w, http.StatusUnauthorized, "missing or invalid bearer token")
			return
		}
		h(w, r)
	}
}

// method answers 405 with Allow for any other method (HEAD is allowed with GET).
func (a *API) method(m string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != m && !(m == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", m)
			writeJSONError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		h(w, r)
	}
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, _ *http.Request) {
	if a.c.Ready != nil && !a.c.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (a *API) metrics(w http.ResponseWriter, r *http.Request) {
	if a.c.Server == nil {
		writeJSONError(w, http.StatusNotFound, "no metrics")
		return
	}
	a.c.Server.MetricsHandler().ServeHTTP(w, r)
}

// Route is a route as the admin API shows it (GET /v1/routes and
// /v1/routes/{name}, and the answer of a route action): strangler.Route with
// the stage by name.
type Route struct {
	Name         string   `json:"name"`
	Host         string   `json:"host,omitempty"`
	Path         string   `json:"path"`
	Methods      []string `json:"methods,omitempty"`
	Upstream     string   `json:"upstream,omitempty"`
	Function     string   `json:"function,omitempty"`
	Enqueue      string   `json:"enqueue,omitempty"`
	Stage        string   `json:"stage"`
	Weight       int      `json:"weight"`
	Sticky       string   `json:"sticky,omitempty"`
	MirrorUnsafe bool     `json:"mirror_unsafe,omitempty"`
	Step         int      `json:"step"`
	Paused       bool     `json:"paused"`
}

func toRoute(r strangler.Route) Route {
	return Route{Name: r.Name, Host: r.Host, Path: r.Path, Methods: r.Methods, Upstream: r.Upstream,
		Function: r.Function, Enqueue: r.Enqueue, Stage: r.Stage.String(), Weight: r.Weight, Sticky: r.Sticky,
		MirrorUnsafe: r.MirrorUnsafe, Step: r.Step, Paused: r.Paused}
}

// Target is one target's counters and latencies in RouteStats
// (router.TargetStats, latencies in milliseconds).
type Target struct {
	Requests      uint64  `json:"requests"`
	Errors5xx     uint64  `json:"errors_5xx"`
	LimitBreaches uint64  `json:"limit_breaches"`
	Fallbacks     uint64  `json:"fallbacks"`
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
}

// Mismatch is one sampled shadow mismatch, secrets redacted
// (router.Mismatch).
type Mismatch struct {
	Time    time.Time `json:"time"`
	Method  string    `json:"method"`
	Path    string    `json:"path"`
	Field   string    `json:"field"`
	Legacy  string    `json:"legacy"`
	Isolate string    `json:"isolate"`
}

// RouteStats is a route's numbers in GET /v1/routes/{name}: per target,
// shadow comparisons, sampled mismatches and the learned noise
// (router.RouteStats).
type RouteStats struct {
	Legacy           Target     `json:"legacy"`
	Isolate          Target     `json:"isolate"`
	ShadowCompared   uint64     `json:"shadow_compared"`
	ShadowMismatches uint64     `json:"shadow_mismatches"`
	ShadowSkipped    uint64     `json:"shadow_skipped"`
	Mismatches       []Mismatch `json:"mismatches"`
	Noise            []string   `json:"noise"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func toTarget(t router.TargetStats) Target {
	return Target{Requests: t.Requests, Errors5xx: t.Errors5xx, LimitBreaches: t.LimitBreaches,
		Fallbacks: t.Fallbacks, P50Ms: ms(t.P50), P99Ms: ms(t.P99)}
}

func toRouteStats(s router.RouteStats) RouteStats {
	out := RouteStats{Legacy: toTarget(s.Legacy), Isolate: toTarget(s.Isolate),
		ShadowCompared: s.ShadowCompared, ShadowMismatches: s.ShadowMismatches, ShadowSkipped: s.ShadowSkipped,
		Mismatches: []Mismatch{}, Noise: s.Noise}
	if out.Noise == nil {
		out.Noise = []string{}
	}
	for _, m := range s.Mismatches {
		out.Mismatches = append(out.Mismatches, Mismatch(m))
	}
	return out
}

// Event is one entry of the table's event history (strangler.Event, stages
// by name), in GET /v1/events and GET /v1/routes/{name}.
type Event struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Route  string    `json:"route,omitempty"`
	Kind   string    `json:"kind"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Weight int       `json:"weight"`
	Step   int       `json:"step"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
}

func toEvent(e strangler.Event) Event {
	return Event{Seq: e.Seq, Time: e.Time, Route: e.Route, Kind: e.Kind, From: e.From.String(),
		To: e.To.String(), Weight: e.Weight, Step: e.Step, Actor: e.Actor, Reason: e.Reason}
}

func (a *API) listRoutes(w http.ResponseWriter, _ *http.Request) {
	routes := a.c.Table.Routes()
	out := make([]Route, 0, len(routes))
	for _, r := range routes {
		out = append(out, toRoute(r))
	}
	writeJSON(w, http.StatusOK, routeList{Routes: out})
}

// plan returns the route's migration plan, or nil.
func (a *API) plan(name string) *strangler.Plan {
	if a.c.Controller == nil {
		return nil
	}
	if p, ok := a.c.Controller.Plan(name); ok {
		return &p
	}
	return nil
}

// routeEvents is how many of a route's newest events GET /v1/routes/{name} shows.
const routeEvents = 20

func (a *API) getRoute(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	route, ok := a.c.Table.Route(name)
	if !ok {
		writeJSONError(w, http.StatusNotFound, fmt.Sprintf("route %q not found", name))
		return
	}
	var stats router.RouteStats
	if a.c.Server != nil {
		stats, _ = a.c.Server.RouteStats(name)
	}
	evs := []Event{}
	all := a.c.Table.LatestEvents(0)
	for i := len(all) - 1; i >= 0 && len(evs) < routeEvents; i-- {
		if all[i].Route == name {
			evs = append(evs, toEvent(all[i]))
		}
	}
	slices.Reverse(evs)
	out := RouteDetail{Route: toRoute(route), Stats: toRouteStats(stats), Events: evs}
	if p := a.plan(name); p != nil {
		plan := toPlan(*p)
		out.Plan = &plan
		if g, ok := a.c.Controller.Gates(name); ok {
			gates := toGates(g)
			out.Gates = &gates
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// RouteDetail is GET /v1/routes/{name}: the route, its numbers, its newest
// events (at most 20, oldest first) and, when the route has a migration
// plan, the plan and the gates' judgement of its current step.
type RouteDetail struct {
	Route  Route      `json:"route"`
	Stats  RouteStats `json:"stats"`
	Events []Event    `json:"events"`
	Plan   *Plan      `json:"plan,omitempty"`
	Gates  *Gates     `json:"gates,omitempty"`
}

// Plan is a route's migration plan as the API shows it (strangler.Plan).
type Plan struct {
	Start           string  `json:"start"`
	Steps           []int   `json:"steps"`
	Interval        string  `json:"interval"`
	MinRequests     int     `json:"min_requests"`
	MaxErrorRate    float64 `json:"max_error_rate"`
	MaxLatencyRatio float64 `json:"max_latency_ratio"`
	MaxMismatchRate float64 `json:"max_mismatch_rate"`
	OnFailure       string  `json:"on_failure"`
}

func toPlan(p strangler.Plan) Plan {
	onFail := "rollback"
	if p.OnFailure == strangler.FailPause {
		onFail = "pause"
	}
	return Plan{Start: p.Start.String(), Steps: p.Steps, Interval: p.Interval.String(), MinRequests: p.MinRequests,
		MaxErrorRate: p.MaxErrorRate, MaxLatencyRatio: p.MaxLatencyRatio, MaxMismatchRate: p.MaxMismatchRate, OnFailure: onFail}
}

// Gates is the migration controller's judgement of a route's current step
// (migrate.Gates).
type Gates struct {
	Stage            string    `json:"stage"`
	Weight           int       `json:"weight"`
	Step             int       `json:"step"`
	Since            time.Time `json:"since"`
	ElapsedSeconds   float64   `json:"elapsed_seconds"`
	Requests         uint64    `json:"requests"`
	IsolateErrorRate float64   `json:"isolate_error_rate"`
	LegacyErrorRate  float64   `json:"legacy_error_rate"`
	IsolateP99Ms     float64   `json:"isolate_p99_ms"`
	LegacyP99Ms      float64   `json:"legacy_p99_ms"`
	LatencyRatio     float64   `json:"latency_ratio"`
	ShadowCompared   uint64    `json:"shadow_compared"`
	ShadowMismatches uint64    `json:"shadow_mismatches"`
	MismatchRate     float64   `json:"mismatch_rate"`
	Verdict          string    `json:"verdict"`
	Reason           string    `json:"reason"`
}

func toGates(g migrate.Gates) Gates {
	return Gates{Stage: g.Stage.String(), Weight: g.Weight, Step: g.Step, Since: g.Since,
		ElapsedSeconds: g.Elapsed.Seconds(), Requests: g.Requests, IsolateErrorRate: g.IsolateErrorRate,
		LegacyErrorRate: g.LegacyErrorRate, IsolateP99Ms: ms(g.IsolateP99), LegacyP99Ms: ms(g.LegacyP99),
		LatencyRatio: g.LatencyRatio, ShadowCompared: g.ShadowCompared, ShadowMismatches: g.ShadowMismatches,
		MismatchRate: g.MismatchRate, Verdict: string(g.Verdict), Reason: g.Reason}
}

// The bodies of GET /v1/routes, of a route action's answer and of
// GET /v1/events; Client decodes the same types.
type (
	routeList struct {
		Routes []Route `json:"routes"`
	}
	routeAnswer struct {
		Route Route `json:"route"`
	}
	eventPage struct {
		Events []Event `json:"events"`
	}
)

// actionBody is the optional body of the route actions; Client sends it.
type actionBody struct {
	Reason string `json:"reason,omitempty"`
	Weight *int   `json:"weight,omitempty"`
}

// routeAction serves POST /v1/routes/{name}/{action}: it moves the route
// through the Mover, then makes the move durable.
func (a *API) routeAction(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	switch action {
	case "promote", "rollback", "pause", "resume", "weight":
	default:
		writeJSONError(w, http.StatusNotFound, fmt.Sprintf("unknown action %q", action))
		return
	}
	body, problem := readActionBody(r, action)
	if problem != "" {
		writeJSONError(w, http.StatusBadRequest, problem)
		return
	}
	var mover strangler.Mover = a.c.Table
	if a.c.Mover != nil {
		mover = a.c.Mover
	}
	act := strangler.Action{Actor: Actor, Reason: body.Reason}
	route, err := mover.Move(r.Context(), name, transition(action, a.plan(name), body), act)
	if err != nil {
		code, msg := moveRefusal(name, err)
		writeJSONError(w, code, msg)
		return
	}
	if a.c.Durable != nil {
		if err := a.c.Durable(r.Context()); err != nil {
			a.log.Error("admin action applied but not saved", slog.String("route", name), slog.Any("err", err))
			writeJSONError(w, http.StatusInternalServerError, "applied, but not saved: "+err.Error())
			return
		}
	}
	a.log.Info("admin action", slog.String("route", name), slog.String("action", action),
		slog.String("stage", route.Stage.String()), slog.Int("weight", route.Weight),
		slog.String("reason", body.Reason))
	writeJSON(w, http.StatusOK, routeAnswer{Route: toRoute(route)})
}

// readActionBody reads the optional body of a route action. problem, when not
// empty, says why the body is refused (a 400): unreadable, not an actionBody,
// or a weight out of range, missing from the weight action or given to another.
func readActionBody(r *http.Request, action string) (body actionBody, problem string) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return body, "read body: " + err.Error()
	}
	if len(strings.TrimSpace(string(data))) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			return body, "body: " + err.Error()
		}
	}
	switch {
	case body.Weight != nil && (*body.Weight < 0 || *body.Weight > 100):
		return body, "weight: must be 0..100"
	case action != "weight" && body.Weight != nil:
		return body, "weight: only POST /v1/routes/{name}/weight takes a weight"
	case action == "weight" && body.Weight == nil:
		return body, `weight: required, as {"weight": N}`
	}
	return body, ""
}

// transition is the move a known action asks for; plan (nil for none) gives
// promote and rollback their steps.
func transition(action string, plan *strangler.Plan, body actionBody) strangler.Transition {
	switch action {
	case "weight":
		return strangler.SetWeight(*body.Weight)
	case "promote":
		return strangler.Promote(plan)
	case "rollback":
		return strangler.Rollback(plan)
	}
	return strangler.Pause(action == "pause")
}

// moveRefusal is the status and message of a move the Mover refused.
func moveRefusal(name string, err error) (int, string) {
	switch {
	case errors.Is(err, strangler.ErrNotFound):
		return http.StatusNotFound, fmt.Sprintf("route %q not found", name)
	case errors.Is(err, strangler.ErrNoTransition), errors.Is(err, strangler.ErrInvalidRoute), errors.Is(err, strangler.ErrStale):
		return http.StatusConflict, err.Error()
	case errors.Is(err, strangler.ErrUnavailable):
		return http.StatusServiceUnavailable, err.Error()
	}
	return http.StatusInternalServerError, err.Error()
}

func (a *API) reload(w http.ResponseWriter, r *http.Request) {
	if a.c.Reload == nil {
		writeJSONError(w, http.StatusNotImplemented, "reload is not available")
		return
	}
	if err := a.c.Reload(r.Context()); err != nil {
		a.log.Warn("admin reload failed", slog.Any("err", err))
		writeJSONError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
}

// Default and maximum page size of GET /v1/events.
const (
	defaultEventsLimit = 100
	maxEventsLimit     = 1000
)

func (a *API) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since uint64
	if s := q.Get("since"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("since: %q is not a sequence number", s))
			return
		}
		since = n
	}
	limit := defaultEventsLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("limit: %q is not a positive number", s))
			return
		}
		limit = min(n, maxEventsLimit)
	}
	evs := a.c.Table.Events(since, limit)
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		out = append(out, toEvent(e))
	}
	writeJSON(w, http.StatusOK, eventPage{Events: out})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
