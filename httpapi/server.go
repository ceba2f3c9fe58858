package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry"
)

// Server is the HTTP API of Gantry, an http.Handler to mount in any
// http.Server (at the root: its routes begin with /v1/, /healthz and
// /readyz). Create it with New. It starts no goroutines of its own.
type Server struct {
	cfg    Config
	client *gantry.Client
	log    *slog.Logger
	mux    *http.ServeMux
	paths  *http.ServeMux // path-only patterns, to answer 405 with Allow
	allow  map[string][]string
	tokens []tokenEntry
	adm    *admission
	cop    *http.CrossOriginProtection
	kinds  map[string]bool // the kinds that may be enqueued; nil: any
	// streams counts and bounds the long-lived requests.
	streams *streams

	draining  atomic.Bool
	drainOnce sync.Once
	// drainCtx ends when Drain is called: long-polls, event streams and
	// lease waits return early.
	drainCtx context.Context
	drain    context.CancelFunc
}

type tokenEntry struct {
	sum    [sha256.Size]byte
	scopes []Scope
}

// New checks cfg and returns a Server.
func New(cfg *Config) (*Server, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    c,
		client: c.Client,
		log:    c.Logger,
		mux:    http.NewServeMux(),
		paths:  http.NewServeMux(),
		allow:  make(map[string][]string),
	}
	for _, t := range c.Tokens {
		s.tokens = append(s.tokens, tokenEntry{sum: sha256.Sum256([]byte(t.Value)), scopes: slices.Clone(t.Scopes)})
	}
	s.cop = http.NewCrossOriginProtection()
	for _, o := range c.TrustedOrigins {
		if err := s.cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("httpapi: TrustedOrigins: %w", err)
		}
	}
	s.adm = newAdmission(&s.cfg)
	s.kinds = declaredKinds(&s.cfg)
	s.streams = newStreams(c.MaxStreams, c.MaxStreamsPerToken)
	s.drainCtx, s.drain = context.WithCancel(context.Background())
	s.routes()
	return s, nil
}

// routes registers every endpoint with the scope it needs ("" for none).
func (s *Server) routes() {
	s.handle("GET /healthz", "", http.HandlerFunc(s.healthz))
	s.handle("GET /readyz", "", http.HandlerFunc(s.readyz))
	if m := s.cfg.Metrics; m != nil {
		s.handle("GET /metrics", "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Cache-Control", "no-store")
			h.Set("X-Content-Type-Options", "nosniff")
			m.ServeHTTP(w, r)
		}))
	}

	s.handle("POST /v1/jobs", ScopeEnqueue, endpoint(s, s.enqueue))
	s.handle("POST /v1/jobs/batch", ScopeEnqueue, endpoint(s, s.enqueueBatch))
	s.handle("GET /v1/jobs", ScopeRead, endpoint(s, s.list))
	s.handle("GET /v1/jobs/{id}", ScopeRead, endpoint(s, s.get))
	s.handle("GET /v1/jobs/{id}/events", ScopeRead, endpoint(s, s.events))
	s.handle("GET /v1/jobs/{id}/blob", ScopeRead, endpoint(s, s.blob))
	s.handle("POST /v1/jobs/{id}/cancel", ScopeAdmin, endpoint(s, s.cancel))
	s.handle("POST /v1/jobs/{id}/retry", ScopeAdmin, endpoint(s, s.retry))

	s.handle("POST /v1/workflows", ScopeEnqueue, endpoint(s, s.createWorkflow))
	s.handle("GET /v1/workflows", ScopeRead, endpoint(s, s.listWorkflows))
	s.handle("GET /v1/workflows/{id}", ScopeRead, endpoint(s, s.getWorkflow))
	s.handle("GET /v1/workflows/{id}/events", ScopeRead, endpoint(s, s.workflowEvents))
	s.handle("POST /v1/workflows/{id}/cancel", ScopeAdmin, endpoint(s, s.cancelWorkflow))

	s.handle("GET /v1/queues", ScopeRead, endpoint(s, s.queues))
	s.handle("POST /v1/queues/{name}/pause", ScopeAdmin, endpoint(s, s.pause))
	s.handle("POST /v1/queues/{name}/resume", ScopeAdmin, endpoint(s, s.resume))
	s.handle("GET /v1/nodes", ScopeRead, endpoint(s, s.nodes))
	s.handle("PUT /v1/queues/{name}/limits", ScopeAdmin, endpoint(s, s.setLimits))

	s.handle("POST /v1/queues/{name}/lease", ScopeWork, endpoint(s, s.lease))
	s.handle("POST /v1/jobs/{id}/heartbeat", ScopeWork, endpoint(s, s.heartbeat))
	s.handle("POST /v1/jobs/{id}/complete", ScopeWork, endpoint(s, s.complete))
	s.handle("POST /v1/jobs/{id}/children", ScopeWork, endpoint(s, s.spawn))
	s.handle("POST /v1/jobs/{id}/fail", ScopeWork, endpoint(s, s.fail))
	s.handle("POST /v1/jobs/{id}/snooze", ScopeWork, endpoint(s, s.snooze))

	for path, methods := range s.allow {
		if slices.Contains(methods, http.MethodGet) {
			methods = append(methods, http.MethodHead)
		}
		slices.Sort(methods)
		allow := strings.Join(methods, ", ")
		s.paths.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e := problemf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s is not allowed on %s; allowed: %s", r.Method, path, allow)
			e.allow = allow
			s.writeProblem(w, r, e)
		}))
	}
	s.mux.Handle("/", http.HandlerFunc(s.unmatched))
}

// handle registers h for pattern ("METHOD /path"): drain and auth checks
// first, unless scope is "" (the health checks).
func (s *Server) handle(pattern string, scope Scope, h http.Handler) {
	method, path, _ := strings.Cut(pattern, " ")
	s.allow[path] = append(s.allow[path], method)
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if scope != "" {
			if s.draining.Load() && !finishesWork[pattern] {
				s.writeProblem(w, r, problemf(http.StatusServiceUnavailable, CodeDraining,
					"the server is shutting down; retry against another node or later").withRetry(DrainRetryAfter))
				return
			}
			if e := s.authorize(r, scope); e != nil {
				s.writeProblem(w, r, e)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
}

// finishesWork lists the routes a draining server still serves: workers
// that hold a lease must be able to report on it, or the results of jobs
// they finish during the drain would be lost until the leases expired.
var finishesWork = map[string]bool{
	"POST /v1/jobs/{id}/heartbeat": true,
	"POST /v1/jobs/{id}/complete":  true,
	"POST /v1/jobs/{id}/fail":      true,
	"POST /v1/jobs/{id}/snooze":    true,
	"POST /v1/jobs/{id}/children":  true,
}

// unmatched answers requests no route matched: 405 when the path exists
// with other methods, 404 otherwise.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	if h, pattern := s.paths.Handler(r); pattern != "" {
		h.ServeHTTP(w, r)
		return
	}
	s.writeProblem(w, r, problemf(http.StatusNotFound, CodeNotFound, "no endpoint at %s", truncate(r.URL.Path, 200)))
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			if !sw.wrote {
				s.writeProblem(sw, r, problemf(http.StatusInternalServerError, CodeInternal, "an internal error occurred; it was logged"))
			}
		}
		if s.cfg.Observe != nil {
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			s.cfg.Observe(r.Pattern, status, time.Since(start))
		}
	}()
	if clean := cleanPath(r.URL.Path); clean != r.URL.Path {
		// http.ServeMux would redirect with a text/html 307; an API answers
		// with a problem, and a client that sent "." or ".." segments
		// learns what it reached.
		s.writeProblem(sw, r, problemf(http.StatusNotFound, CodeNotFound,
			"no endpoint at %s: paths are taken as they are, without '.', '..' or '//' segments (%s is the clean path)",
			truncate(r.URL.Path, 200), truncate(clean, 200)))
		return
	}
	if err := s.cop.Check(r); err != nil {
		s.writeProblem(sw, r, problemf(http.StatusForbidden, CodeForbidden,
			"cross-origin requests that change state are refused; add the origin to the server's trusted origins"))
		return
	}
	s.mux.ServeHTTP(sw, r)
}

// Drain makes the server refuse new work: from now on every request but
// /healthz, /readyz and the heartbeats, completions and failures of leased
// jobs is answered 503 with Retry-After (code "draining"),
// /readyz answers 503, and long-polls, event streams and lease requests in
// progress return early. Call it when shutdown begins, before
// http.Server.Shutdown. It cannot be undone.
func (s *Server) Drain() {
	s.drainOnce.Do(func() {
		s.draining.Store(true)
		s.drain()
	})
}

// Draining reports whether Drain was called.
func (s *Server) Draining() bool { return s.draining.Load() }

// authorize checks the request's bearer token for scope.
func (s *Server) authorize(r *http.Request, need Scope) *apiError {
	if len(s.tokens) == 0 {
		return nil
	}
	found, e := s.token(r)
	if e != nil {
		return e
	}
	if !found.allows(need) {
		return problemf(http.StatusForbidden, CodeForbidden, "the token lacks the %q scope", need)
	}
	return nil
}

// mayRead reports whether the request's token may read jobs: a server
// without tokens lets everyone.
func (s *Server) mayRead(r *http.Request) bool {
	if len(s.tokens) == 0 {
		return true
	}
	found, e := s.token(r)
	return e == nil && found.allows(ScopeRead)
}

func (t *tokenEntry) allows(scope Scope) bool {
	return slices.Contains(t.scopes, scope) || slices.Contains(t.scopes, ScopeAdmin)
}

// token finds the request's bearer token among the server's.
func (s *Server) token(r *http.Request) (*tokenEntry, *apiError) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, problemf(http.StatusUnauthorized, CodeUnauthorized, "send a token: Authorization: Bearer <token>")
	}
	sum := sha256.Sum256([]byte(tok))
	var found *tokenEntry
	for i := range s.tokens {
		// Compare every token, each in constant time, so that timing tells
		// nothing about which token matched or how much of it.
		if subtle.ConstantTimeCompare(sum[:], s.tokens[i].sum[:]) == 1 {
			found = &s.tokens[i]
		}
	}
	if found == nil {
		return nil, problemf(http.StatusUnauthorized, CodeUnauthorized, "the token is not valid")
	}
	return found, nil
}

// reply is what an endpoint answers: a status, headers and a JSON body.
type reply struct {
	status int
	header http.Header
	body   any
}

// binder is a request type: bind decodes and validates the request into
// it, returning a problem for bad input.
type binder interface {
	bind(s *Server, w http.ResponseWriter, r *http.Request) error
}

// endpoint turns a typed handler into an http.Handler: the request is
// decoded and validated into In by its bind method, run executes it, and
// the reply is encoded here, or run's error answered with a problem. A run
// that streams its answer itself returns a nil reply.
func endpoint[In any, PIn interface {
	*In
	binder
}](s *Server, run func(ctx context.Context, in PIn) (*reply, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := PIn(new(In))
		if err := in.bind(s, w, r); err != nil {
			s.writeProblem(w, r, toAPIError(err, false))
			return
		}
		rep, err := run(r.Context(), in)
		if err != nil {
			s.writeProblem(w, r, toAPIError(err, false))
			return
		}
		if rep == nil {
			return
		}
		for k, vs := range rep.header {
			w.Header()[k] = vs
		}
		writeJSON(w, rep.status, "application/json", rep.body)
	})
}

// writeJSON sends v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every body is a type of this package, which always encodes.
		panic(fmt.Sprintf("httpapi: encoding %T: %v", v, err))
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// statusWriter records the status of the response.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.status = code
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status = http.StatusOK
		w.wrote = true
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client.
func (w *statusWriter) Flush() {
	if !w.wrote {
		w.status = http.StatusOK
		w.wrote = true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logLevel is the level an error answer is logged at: errors for 5xx
// (except a client that went away), warnings for a store that is down or
// a full disk (the store logs the cause once), debug otherwise.
func (s *Server) logLevel(e *apiError) slog.Level {
	switch e.p.Code {
	case CodeStoreUnavailable, CodeInsufficientStorage:
		return slog.LevelWarn
	case CodeDraining:
		return slog.LevelDebug
	}
	if e.p.Status >= 500 {
		return slog.LevelError
	}
	return slog.LevelDebug
}

// cleanPath is p as http.ServeMux would clean it: one slash between
// segments, no "." or ".." segments, a trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean
}
