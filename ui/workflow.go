package ui

import (
	"errors"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store"
)

// MaxGraphJobs is the most jobs GET api/workflows/{id} returns to draw: a
// workflow with more is shown by its counts per state alone, so the
// answer stays small and fast (one read of the workflow's record) however
// large the workflow is, and the page draws no graph too large to read.
const MaxGraphJobs = 500

// Workflow is the answer of GET api/workflows/{id}: the workflow's counts
// per state and, when it has at most MaxGraphJobs jobs, each job with its
// edges.
type Workflow struct {
	ID         string                 `json:"id"`
	Name       string                 `json:"name"`
	State      gantry.WorkflowState   `json:"state"`
	CreatedAt  time.Time              `json:"created_at"`
	FinishedAt *time.Time             `json:"finished_at"`
	Counts     map[gantry.State]int64 `json:"counts"`
	// Total is the number of the workflow's jobs.
	Total int64 `json:"total"`
	// Truncated says the workflow has more than MaxJobs jobs: Jobs is
	// empty.
	Truncated bool `json:"truncated"`
	// MaxJobs is MaxGraphJobs.
	MaxJobs int           `json:"max_jobs"`
	Jobs    []WorkflowJob `json:"jobs"`
}

// WorkflowJob is one job of a Workflow: what its node in the graph shows
// and its edges (its dependencies and its parent, by id; either may name a
// job outside the workflow).
type WorkflowJob struct {
	ID        string       `json:"id"`
	Ref       string       `json:"ref"`
	Kind      string       `json:"kind"`
	State     gantry.State `json:"state"`
	DependsOn []string     `json:"depends_on"`
	ParentID  string       `json:"parent_id,omitempty"`
}

// workflow answers GET api/workflows/{id} (scope read).
func (h *Handler) workflow(w http.ResponseWriter, r *http.Request) {
	api := h.cfg.API
	id, ok := h.readID(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	wf, err := h.cfg.Client.Workflow(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		api.NotFound(w, r)
		return
	}
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	out := Workflow{ID: wf.ID, Name: wf.Name, State: wf.State, CreatedAt: wf.CreatedAt.UTC(),
		Counts: make(map[gantry.State]int64, len(store.States)), MaxJobs: MaxGraphJobs, Jobs: []WorkflowJob{}}
	if !wf.FinishedAt.IsZero() {
		t := wf.FinishedAt.UTC()
		out.FinishedAt = &t
	}
	for _, st := range store.States {
		out.Counts[st] = wf.Counts[st]
		out.Total += wf.Counts[st]
	}
	out.Truncated = out.Total > MaxGraphJobs
	if !out.Truncated {
		// One more than the cap: a workflow whose jobs spawned children
		// since its counts were read may have grown past it.
		res, err := h.cfg.Client.List(ctx, &gantry.ListParams{WorkflowID: wf.ID, Limit: MaxGraphJobs + 1})
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		if len(res.Jobs) > MaxGraphJobs || res.Next != "" {
			out.Truncated = true
		} else {
			out.Jobs = make([]WorkflowJob, len(res.Jobs))
			for i, j := range res.Jobs {
				deps := j.DependsOn
				if deps == nil {
					deps = []string{}
				}
				out.Jobs[i] = WorkflowJob{ID: j.ID, Ref: j.Ref, Kind: j.Kind, State: j.State, DependsOn: deps, ParentID: j.ParentID}
			}
		}
	}
	writeJSON(w, r, api, out)
}
