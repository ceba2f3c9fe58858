package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/store"
)

// Job is the answer of GET api/jobs/{id}: the job resource of the API with
// what the job page shows beyond it.
type Job struct {
	*httpapi.JobResource
	// Checkpoint is what the last heartbeat saved for the next attempt,
	// null if nothing.
	Checkpoint json.RawMessage `json:"checkpoint"`
	// Attempts are the failed attempts, with the stack of those that
	// panicked.
	Attempts []Attempt `json:"attempts"`
}

// Attempt is one failed attempt of a job.
type Attempt struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Message string    `json:"message"`
	Stack   string    `json:"stack,omitempty"`
}

// job answers GET api/jobs/{id} (scope read).
func (h *Handler) job(w http.ResponseWriter, r *http.Request) {
	api := h.cfg.API
	id, ok := h.readID(w, r)
	if !ok {
		return
	}
	j, err := h.cfg.Client.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		api.NotFound(w, r)
		return
	}
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	out := Job{JobResource: httpapi.Resource(j), Checkpoint: j.Checkpoint, Attempts: make([]Attempt, 0, len(j.Errors))}
	if len(out.Checkpoint) == 0 {
		out.Checkpoint = json.RawMessage("null")
	}
	for _, e := range j.Errors {
		out.Attempts = append(out.Attempts, Attempt{Attempt: e.Attempt, At: e.At.UTC(), Message: e.Message, Stack: e.Stack})
	}
	writeJSON(w, r, api, out)
}

// readID checks the read scope and returns the request's {id}; it
// answers the request itself when it returns false.
func (h *Handler) readID(w http.ResponseWriter, r *http.Request) (string, bool) {
	if !h.cfg.API.Authorize(w, r, httpapi.ScopeRead) {
		return "", false
	}
	id := r.PathValue("id")
	if len(id) > 128 {
		h.cfg.API.NotFound(w, r)
		return "", false
	}
	return id, true
}

// writeJSON answers 200 with v in JSON, never cached.
func writeJSON(w http.ResponseWriter, r *http.Request, api *httpapi.Server, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	writeBody(w, b)
}

// writeBody answers 200 with the JSON body b, never cached.
func writeBody(w http.ResponseWriter, b []byte) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
}
