// Command monolith is the example legacy application behind edged: a small net/http
// service with the kind of endpoints a strangler-fig migration moves one by one into
// WebAssembly isolates. It uses only the standard library.
//
//	go run ./examples/monolith -listen 127.0.0.1:9000
//
// Endpoints:
//
//	GET  /hello            text "Hello from the monolith\n"
//	GET  /api/users        JSON list of users, with per-call generated_at and request_id
//	GET  /api/users/{id}   one user as JSON, or 404
//	POST /api/orders       {"item":string,"qty":int>0} -> 201 {"order_id":...}; 400 otherwise
//	GET  /slow?ms=N        answers after N ms (capped at 10 s)
//	GET  /account          JSON of the X-User header it received (middleware demo)
//	GET  /healthz          "ok"
//	GET  /debug/...        the request target and headers as JSON (used by tests)
//	GET  /big?mb=N         N MiB of deterministic bytes, streamed (capped at 4096)
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type user struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

var users = []user{
	{1, "Ada Lovelace", "ada@example.com"},
	{2, "Grace Hopper", "grace@example.com"},
	{3, "Edsger Dijkstra", "edsger@example.com"},
}

type app struct {
	log    *slog.Logger
	orders atomic.Int64
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	quiet := flag.Bool("quiet", false, "log warnings only (for load tests)")
	flag.Parse()

	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(*listen, log); err != nil {
		log.Error("monolith stopped", "err", err)
		os.Exit(1)
	}
}

func run(listen string, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen %q: %w", listen, err)
	}
	a := &app{log: log}
	srv := &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
	}
	// The resolved address goes to stdout so a parent process (tests, edged dev) can
	// learn a :0 port.
	fmt.Printf("listening on http://%s\n", ln.Addr())
	log.Info("monolith listening", "addr", ln.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "Hello from the monolith\n")
	})
	mux.HandleFunc("GET /api/users", a.listUsers)
	mux.HandleFunc("GET /api/users/{id}", a.getUser)
	mux.HandleFunc("POST /api/orders", a.createOrder)
	mux.HandleFunc("GET /slow", a.slow)
	mux.HandleFunc("GET /account", func(w http.ResponseWriter, r *http.Request) {
		u := r.Header.Get("X-User")
		if u == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "no X-User header"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"user": u, "plan": "legacy-gold"})
	})
	// GET /echo answers in the shape of examples/guests/echo, so that the quick
	// start's shadow route has something to agree with.
	mux.HandleFunc("GET /echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		writeJSON(w, http.StatusOK, map[string]any{
			"method": r.Method, "uri": r.RequestURI, "proto": r.Proto, "remote_addr": r.RemoteAddr,
			"host": r.Host, "headers": r.Header, "body": string(body),
		})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "ok\n")
	})
	// Everything under /debug/ echoes the request, and bypasses the mux on purpose: the
	// mux would redirect "/debug/../debug/headers" to its clean form, and tests need to
	// see the request target exactly as it arrived.
	debug := http.HandlerFunc(debugHeaders)
	mux.HandleFunc("GET /big", a.big)
	return a.logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/debug/") {
			debug(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
}

// logRequests logs every request at Debug, and failures at Warn: a legacy app's access log.
func (a *app) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		level := slog.LevelDebug
		if sw.code >= 500 {
			level = slog.LevelWarn
		}
		a.log.Log(r.Context(), level, "request", "method", r.Method, "uri", r.RequestURI,
			"status", sw.code, "duration", time.Since(start))
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

// Flush keeps streaming working through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (a *app) listUsers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"users":        users,
		"generated_at": time.Now().UTC().Format(time.RFC3339Nano),
		"request_id":   requestID(),
	})
}

func (a *app) getUser(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err == nil {
		for _, u := range users {
			if u.ID == id {
				writeJSON(w, http.StatusOK, u)
				return
			}
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "user not found"})
}

func (a *app) createOrder(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Item *string `json:"item"`
		Qty  *int    `json:"qty"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON: " + err.Error()})
		return
	}
	switch {
	case in.Item == nil || *in.Item == "":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "item: required string"})
		return
	case in.Qty == nil || *in.Qty <= 0:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "qty: must be an integer > 0"})
		return
	}
	id := a.orders.Add(1)
	writeJSON(w, http.StatusCreated, map[string]any{
		"order_id": fmt.Sprintf("ord-%06d", id), "item": *in.Item, "qty": *in.Qty,
	})
}

func (a *app) slow(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if err != nil || ms < 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "ms: must be an integer >= 0"})
		return
	}
	d := min(time.Duration(ms)*time.Millisecond, 10*time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"slept_ms": d.Milliseconds()})
}

func debugHeaders(w http.ResponseWriter, r *http.Request) {
	// Names are canonicalised by net/http; repeated values keep their order.
	writeJSON(w, http.StatusOK, map[string]any{
		"method":      r.Method,
		"request_uri": r.RequestURI,
		"host":        r.Host,
		"remote_addr": r.RemoteAddr,
		"headers":     r.Header,
	})
}

// big streams N MiB of a deterministic pattern (byte i is i mod 251) with no
// Content-Length, so it goes out chunked.
func (a *app) big(w http.ResponseWriter, r *http.Request) {
	mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
	if err != nil || mb < 0 || mb > 4096 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "mb: must be an integer in [0, 4096]"})
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	buf := make([]byte, 64<<10)
	var off int64
	for range mb * 16 {
		for i := range buf {
			buf[i] = byte((off + int64(i)) % 251)
		}
		off += int64(len(buf))
		if _, err := w.Write(buf); err != nil {
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
