package httpapi

import (
	"context"
	"net/http"

	"github.com/gantry-dev/gantry/store"
)

// Authorize checks that r carries a token with scope, as every endpoint of
// the API does, for a handler mounted beside the API (the dashboard's own
// JSON endpoints). It answers the problem itself (401, 403, or 503 while
// draining) and returns false when the request may not go on.
func (s *Server) Authorize(w http.ResponseWriter, r *http.Request, scope Scope) bool {
	if s.draining.Load() {
		s.writeProblem(w, r, problemf(http.StatusServiceUnavailable, CodeDraining,
			"the server is shutting down; retry against another node or later").withRetry(DrainRetryAfter))
		return false
	}
	if e := s.authorize(r, scope); e != nil {
		s.writeProblem(w, r, e)
		return false
	}
	return true
}

// WriteError answers err as the API would: store.ErrNotFound is a 404,
// store.ErrUnavailable a 503, and so on (docs/http-api.md).
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeProblem(w, r, toAPIError(err, false))
}

// NotFound answers 404 with the API's problem, for a path a handler beside
// the API does not serve.
func (s *Server) NotFound(w http.ResponseWriter, r *http.Request) {
	s.writeProblem(w, r, problemf(http.StatusNotFound, CodeNotFound, "no endpoint at %s", truncate(r.URL.Path, 200)))
}

// Resource returns the job resource of j, as GET /v1/jobs/{id} shows it.
func Resource(j *store.Job) *JobResource { return jobResource(j) }

// Queues returns what GET /v1/queues answers, for a handler beside the
// API that serves it in another form (the dashboard's overview).
func (s *Server) Queues(ctx context.Context) (*QueueList, error) {
	rep, err := s.queues(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := rep.body.(QueueList)
	return &out, nil
}

// Nodes returns what GET /v1/nodes answers.
func (s *Server) Nodes(ctx context.Context) (*NodeList, error) {
	rep, err := s.nodes(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := rep.body.(NodeList)
	return &out, nil
}
