package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store"
)

// Defaults of the workflow limits of Config.
const (
	// DefaultMaxWorkflowBody is the default of Config.MaxWorkflowBody: 16 MiB.
	DefaultMaxWorkflowBody = 16 << 20
	// DefaultMaxWorkflowJobs is the default of Config.MaxWorkflowJobs.
	DefaultMaxWorkflowJobs = gantry.DefaultMaxWorkflowJobs
	// MaxWorkflowPageJobs is the most jobs GET /v1/workflows/{id} lists;
	// larger workflows page through GET /v1/jobs?workflow_id=.
	MaxWorkflowPageJobs = store.MaxListLimit
)

// WorkflowRequest is the JSON body of POST /v1/workflows.
type WorkflowRequest struct {
	Name string               `json:"name,omitempty"`
	Jobs []WorkflowJobRequest `json:"jobs"`
}

// WorkflowJobRequest is one job of a WorkflowRequest: the fields of
// POST /v1/jobs, a ref, the policy on a failed dependency and nested
// children. depends_on names refs of the workflow or ids of existing jobs.
type WorkflowJobRequest struct {
	Ref               string               `json:"ref"`
	Kind              string               `json:"kind"`
	Queue             string               `json:"queue,omitempty"`
	Args              json.RawMessage      `json:"args,omitempty"`
	Priority          *int                 `json:"priority,omitempty"`
	Delay             string               `json:"delay,omitempty"`
	RunAt             string               `json:"run_at,omitempty"`
	MaxAttempts       *int                 `json:"max_attempts,omitempty"`
	Timeout           string               `json:"timeout,omitempty"`
	UniqueKey         string               `json:"unique_key,omitempty"`
	DependsOn         []string             `json:"depends_on,omitempty"`
	IfDependencyFails string               `json:"if_dependency_fails,omitempty"`
	Children          []WorkflowJobRequest `json:"children,omitempty"`
}

// WorkflowCreated is the answer of POST /v1/workflows: the workflow and
// its jobs by ref.
type WorkflowCreated struct {
	ID    string                  `json:"id"`
	Name  string                  `json:"name"`
	State gantry.WorkflowState    `json:"state"`
	Jobs  map[string]*JobResource `json:"jobs"`
}

// WorkflowResource is a workflow as GET /v1/workflows/{id} shows it:
// counts per state and (up to MaxWorkflowPageJobs of) its jobs.
type WorkflowResource struct {
	ID         string                 `json:"id"`
	Name       string                 `json:"name"`
	State      gantry.WorkflowState   `json:"state"`
	CreatedAt  time.Time              `json:"created_at"`
	FinishedAt *time.Time             `json:"finished_at"`
	Counts     map[gantry.State]int64 `json:"counts"`
	Jobs       []*JobResource         `json:"jobs,omitempty"`
	// NextCursor, when not empty, pages on through GET
	// /v1/jobs?workflow_id=ID&cursor=.
	NextCursor string `json:"next_cursor,omitempty"`
}

// WorkflowList is the answer of GET /v1/workflows.
type WorkflowList struct {
	Workflows  []*WorkflowResource `json:"workflows"`
	NextCursor string              `json:"next_cursor"`
}

func workflowResource(w *gantry.WorkflowInfo) *WorkflowResource {
	counts := make(map[gantry.State]int64, len(store.States))
	for _, st := range store.States {
		counts[st] = w.Counts[st]
	}
	return &WorkflowResource{ID: w.ID, Name: w.Name, State: w.State, CreatedAt: w.CreatedAt.UTC(),
		FinishedAt: optTime(w.FinishedAt), Counts: counts}
}

// decodeWorkflow decodes and checks the body of POST /v1/workflows: JSON
// of the right shape, every field that must parse parses, at most maxJobs
// jobs. It reads no store; the graph is checked when it is enqueued.
func (s *Server) decodeWorkflow(body []byte, maxJobs int) (*gantry.Workflow, map[string]int, error) {
	var req WorkflowRequest
	if err := decodeStrict(body, &req, ""); err != nil {
		return nil, nil, err
	}
	if req.Jobs == nil {
		return nil, nil, invalidField("jobs", "jobs must list the jobs of the workflow")
	}
	if len(req.Name) > store.MaxWorkflowName {
		return nil, nil, invalidField("name", "name must be at most %d bytes", store.MaxWorkflowName)
	}
	w := &gantry.Workflow{Name: req.Name}
	counts := map[string]int{}
	n := 0
	var conv func(list []WorkflowJobRequest, prefix string) ([]gantry.WorkflowJob, error)
	conv = func(list []WorkflowJobRequest, prefix string) ([]gantry.WorkflowJob, error) {
		out := make([]gantry.WorkflowJob, len(list))
		for i := range list {
			n++
			if n > maxJobs {
				e := problemf(http.StatusUnprocessableEntity, CodeInvalidWorkflow,
					"a workflow holds at most %d jobs", maxJobs)
				e.p.Field = "jobs"
				return nil, e
			}
			j := &list[i]
			p := prefix + "[" + strconv.Itoa(i) + "]."
			spec, err := s.spec(&JobRequest{Kind: j.Kind, Queue: j.Queue, Args: j.Args, Priority: j.Priority, Delay: j.Delay,
				RunAt: j.RunAt, MaxAttempts: j.MaxAttempts, Timeout: j.Timeout, UniqueKey: j.UniqueKey, DependsOn: j.DependsOn}, p)
			if err != nil {
				return nil, err
			}
			switch pol := gantry.DependencyPolicy(j.IfDependencyFails); pol {
			case "", gantry.DependencyCancel, gantry.DependencyRun:
				spec.Opts.IfDependencyFails = pol
			default:
				return nil, badField(p+"if_dependency_fails", `%sif_dependency_fails must be "cancel" or "run"`, p)
			}
			counts[queueOf(spec)]++
			out[i] = gantry.WorkflowJob{Ref: j.Ref, Kind: spec.Kind, Args: spec.Args, Opts: spec.Opts}
			if len(j.Children) > 0 {
				if out[i].Children, err = conv(j.Children, p+"children"); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
	var err error
	if w.Jobs, err = conv(req.Jobs, "jobs"); err != nil {
		return nil, nil, err
	}
	return w, counts, nil
}

// workflowError maps the errors of EnqueueWorkflow that name a ref.
func workflowError(err error) error {
	var we *gantry.WorkflowError
	var ce *gantry.WorkflowConflictError
	switch {
	case errors.As(err, &we):
		e := problemf(http.StatusUnprocessableEntity, CodeInvalidWorkflow, "%s", strings.TrimPrefix(we.Error(), "gantry: "))
		e.p.Ref = we.Ref
		e.p.Cycle = we.Cycle
		e.p.Field = we.Field
		return e
	case errors.As(err, &ce):
		e := problemf(http.StatusConflict, CodeUniqueKeyHeld, "%s", strings.TrimPrefix(ce.Error(), "gantry: "))
		e.p.Ref = ce.Ref
		e.p.Field = "unique_key"
		return e
	}
	return err
}

// workflowIn is a POST /v1/workflows request.
type workflowIn struct {
	r       *http.Request
	w       *gantry.Workflow
	counts  map[string]int
	hash    string
	idemKey string
}

func (in *workflowIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	in.r = r
	var err error
	if in.idemKey, err = idempotencyKey(r); err != nil {
		return err
	}
	if _, err := queryValues(r, nil); err != nil {
		return err
	}
	body, err := readJSON(w, r, s.cfg.MaxWorkflowBody, false)
	if err != nil {
		return err
	}
	in.hash = requestHash(r, "", sha256.Sum256(body))
	in.w, in.counts, err = s.decodeWorkflow(body, s.cfg.MaxWorkflowJobs)
	return err
}

// createWorkflow answers POST /v1/workflows: all jobs or none.
func (s *Server) createWorkflow(ctx context.Context, in *workflowIn) (*reply, error) {
	var created *gantry.EnqueuedWorkflow
	_, err := s.admitted(ctx, in.counts, func(opts *gantry.BatchOpts) (*gantry.BatchResult, error) {
		wo := &gantry.WorkflowOpts{MaxJobs: s.cfg.MaxWorkflowJobs}
		if opts != nil {
			wo.IdempotencyKey, wo.RequestHash, wo.KeepFor = opts.IdempotencyKey, in.hash, opts.KeepFor
		}
		var err error
		if created, err = s.client.EnqueueWorkflow(ctx, *in.w, wo); err != nil {
			return nil, workflowError(err)
		}
		res := &gantry.BatchResult{Replayed: created.Replayed}
		for _, j := range created.Jobs {
			res.Jobs = append(res.Jobs, gantry.Enqueued{Job: j})
		}
		return res, nil
	}, in.idemKey)
	if err != nil {
		return nil, err
	}
	out := WorkflowCreated{ID: created.Workflow.ID, Name: created.Workflow.Name, State: created.Workflow.State,
		Jobs: make(map[string]*JobResource, len(created.Jobs))}
	for ref, j := range created.Jobs {
		out.Jobs[ref] = jobResource(j)
	}
	rep := &reply{status: http.StatusAccepted, header: http.Header{}, body: out}
	rep.header.Set("Location", "/v1/workflows/"+out.ID)
	if created.Replayed {
		rep.header.Set(HeaderReplayed, "true")
	}
	return rep, nil
}

func notFoundWorkflow(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return problemf(http.StatusNotFound, CodeNotFound, "workflow %s not found", truncate(id, maxIDLen))
	}
	return err
}

// workflowGetIn is a GET /v1/workflows/{id} request.
type workflowGetIn struct {
	r    *http.Request
	w    http.ResponseWriter
	id   string
	wait time.Duration
}

func (in *workflowGetIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	in.r, in.w = r, w
	var err error
	if in.id, err = pathID(r); err != nil {
		return err
	}
	q, err := queryValues(r, []string{"wait"})
	if err != nil {
		return err
	}
	in.wait, err = parseWait("wait", q.Get("wait"))
	return err
}

// getWorkflow answers GET /v1/workflows/{id}; with ?wait= it long-polls
// until the workflow is final or the wait ends.
func (s *Server) getWorkflow(ctx context.Context, in *workflowGetIn) (*reply, error) {
	if in.wait > 0 {
		release, err := s.longLived(in.r)
		if err != nil {
			return nil, err
		}
		defer release()
		_ = http.NewResponseController(in.w).SetWriteDeadline(time.Now().Add(in.wait + 10*time.Second))
		wctx, cancel := context.WithTimeout(ctx, in.wait)
		defer cancel()
		stop := context.AfterFunc(s.drainCtx, cancel)
		defer stop()
		if _, err := s.client.WaitWorkflow(wctx, in.id); err != nil && wctx.Err() == nil {
			return nil, notFoundWorkflow(in.id, err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	w, err := s.client.Workflow(ctx, in.id)
	if err != nil {
		return nil, notFoundWorkflow(in.id, err)
	}
	out := workflowResource(w)
	res, err := s.client.List(ctx, &gantry.ListParams{WorkflowID: w.ID, Limit: MaxWorkflowPageJobs})
	if err != nil {
		return nil, err
	}
	out.Jobs = make([]*JobResource, len(res.Jobs))
	for i, j := range res.Jobs {
		out.Jobs[i] = jobResource(j)
	}
	out.NextCursor = res.Next
	return &reply{status: http.StatusOK, body: out}, nil
}

// workflowListIn is a GET /v1/workflows request.
type workflowListIn struct {
	p gantry.WorkflowListParams
}

func (in *workflowListIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	q, err := queryValues(r, []string{"state", "limit", "cursor"})
	if err != nil {
		return err
	}
	p := &in.p
	if st := q.Get("state"); st != "" {
		p.State = gantry.WorkflowState(st)
		if !p.State.Valid() {
			return badField("state", "state must be one of running, succeeded, failed, cancelled, not %q", truncate(st, 40))
		}
	}
	p.Cursor = q.Get("cursor")
	if len(p.Cursor) > maxCursorLen {
		return badField("cursor", "cursor is not one this server gave")
	}
	if p.Limit, err = queryInt(q, "limit"); err != nil {
		return err
	}
	if p.Limit < 0 {
		return badField("limit", "limit must not be negative")
	}
	p.Limit = min(p.Limit, store.MaxListLimit)
	return nil
}

// listWorkflows answers GET /v1/workflows: newest first.
func (s *Server) listWorkflows(ctx context.Context, in *workflowListIn) (*reply, error) {
	res, err := s.client.ListWorkflows(ctx, &in.p)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) && in.p.Cursor != "" {
			return nil, badField("cursor", "cursor is not one this server gave").withCause(err)
		}
		return nil, err
	}
	out := WorkflowList{Workflows: make([]*WorkflowResource, len(res.Workflows)), NextCursor: res.Next}
	for i, w := range res.Workflows {
		out.Workflows[i] = workflowResource(w)
	}
	return &reply{status: http.StatusOK, body: out}, nil
}

// workflowCancelIn is a POST /v1/workflows/{id}/cancel request.
type workflowCancelIn struct {
	id  string
	req CancelRequest
}

func (in *workflowCancelIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	var err error
	if in.id, err = pathID(r); err != nil {
		return err
	}
	return bindOptionalJSON(s, w, r, &in.req)
}

// cancelWorkflow answers POST /v1/workflows/{id}/cancel.
func (s *Server) cancelWorkflow(ctx context.Context, in *workflowCancelIn) (*reply, error) {
	w, err := s.client.CancelWorkflow(ctx, in.id, in.req.Reason)
	if err != nil {
		return nil, notFoundWorkflow(in.id, err)
	}
	return &reply{status: http.StatusOK, body: workflowResource(w)}, nil
}

// workflowEvents answers GET /v1/workflows/{id}/events with Server-Sent
// Events: every job of the workflow as it is, then one event per change of
// any of them ("state" or "progress", the job resource as data), until the
// workflow is final.
func (s *Server) workflowEvents(ctx context.Context, in *eventsIn) (*reply, error) {
	release, err := s.longLived(in.r)
	if err != nil {
		return nil, err
	}
	defer release()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.drainCtx, cancel)
	defer stop()
	events, err := s.client.WatchWorkflow(wctx, in.id)
	if err != nil {
		return nil, notFoundWorkflow(in.id, err)
	}
	streamEvents(in.w, events, func(ev gantry.WorkflowEvent) (gantry.EventType, *gantry.Job, bool) {
		return ev.Type, ev.Job, false
	})
	return nil, nil
}

// SpawnRequest is the JSON body of POST /v1/jobs/{id}/children.
type SpawnRequest struct {
	LeaseToken string               `json:"lease_token"`
	Jobs       []WorkflowJobRequest `json:"jobs"`
}

// SpawnResponse is the answer of POST /v1/jobs/{id}/children: the
// children by ref.
type SpawnResponse struct {
	Jobs map[string]*JobResource `json:"jobs"`
}

// spawnIn is a POST /v1/jobs/{id}/children request.
type spawnIn struct {
	p gantry.SpawnParams
}

func (in *spawnIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if _, err := queryValues(r, nil); err != nil {
		return err
	}
	body, err := readJSON(w, r, s.cfg.MaxWorkflowBody, false)
	if err != nil {
		return err
	}
	var head struct {
		LeaseToken string          `json:"lease_token"`
		Jobs       json.RawMessage `json:"jobs"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return jsonError(err, "")
	}
	if head.LeaseToken == "" {
		return invalidField("lease_token", "lease_token must be set")
	}
	// The jobs are checked as those of a workflow.
	wf, _, err := s.decodeWorkflow(spawnBody(body), s.cfg.MaxWorkflowJobs)
	if err != nil {
		return err
	}
	in.p = gantry.SpawnParams{ID: id, LeaseToken: head.LeaseToken, Jobs: wf.Jobs}
	return nil
}

// spawnBody turns a spawn request into the workflow request of its jobs,
// for decodeWorkflow: the same body without lease_token.
func spawnBody(body []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	delete(m, "lease_token")
	b, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return b
}

// spawn answers POST /v1/jobs/{id}/children: children of a leased job.
func (s *Server) spawn(ctx context.Context, in *spawnIn) (*reply, error) {
	jobs, err := s.client.Workers().Spawn(ctx, &in.p)
	if err != nil {
		if errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrNotFound) {
			return nil, s.leaseLost(ctx, in.p.ID, err)
		}
		return nil, workflowError(err)
	}
	out := SpawnResponse{Jobs: make(map[string]*JobResource, len(jobs))}
	for ref, j := range jobs {
		out.Jobs[ref] = jobResource(j)
	}
	return &reply{status: http.StatusAccepted, body: out}, nil
}
