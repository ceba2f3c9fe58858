package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// readyTimeout bounds the store ping of /readyz.
const readyTimeout = 2 * time.Second

// Health is the answer of /healthz and of a ready /readyz.
type Health struct {
	// Status is "ok" (healthz) or "ready" (readyz).
	Status string `json:"status"`
}

// healthz answers 200 while the process serves: liveness. It answers 503
// only while the store reports, through store.Liveness, a failure it
// cannot leave without a restart of the process; a store that cannot reach
// its database is readyz's business, never healthz's.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if l, ok := store.As[store.Liveness](s.client.Store()); ok {
		if err := l.Live(); err != nil {
			s.writeProblem(w, r, problemf(http.StatusServiceUnavailable, CodeStoreUnavailable,
				"the store failed and cannot recover without a restart of the process").withCause(err))
			return
		}
	}
	writeJSON(w, http.StatusOK, "application/json", Health{Status: "ok"})
}

// readyz answers 200 when the store answers a ping and the server is not
// draining, 503 with a problem saying which otherwise: readiness.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		s.writeProblem(w, r, problemf(http.StatusServiceUnavailable, CodeDraining,
			"the server is shutting down").withRetry(DrainRetryAfter))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.client.Store().Ping(ctx); err != nil {
		s.writeProblem(w, r, problemf(http.StatusServiceUnavailable, CodeStoreUnavailable,
			"the store does not answer").withRetry(UnavailableRetryAfter).withCause(err))
		return
	}
	writeJSON(w, http.StatusOK, "application/json", Health{Status: "ready"})
}
