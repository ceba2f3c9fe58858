package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store"
)

// releaseTimeout bounds giving back jobs leased for a client that left.
const releaseTimeout = 5 * time.Second

// LeaseRequest is the JSON body of POST /v1/queues/{name}/lease; every
// field is optional.
type LeaseRequest struct {
	// Max is the most jobs to lease, 1 to gantry.MaxLeaseJobs. Default 1.
	Max int `json:"max,omitempty"`
	// Lease is how long the leases last without a heartbeat, e.g. "30s".
	// Default: the client's LeaseFor.
	Lease string `json:"lease,omitempty"`
	// Wait is how long to wait for jobs when none is available, at most
	// MaxWait. Default: no wait.
	Wait string `json:"wait,omitempty"`
	// Kinds limits the lease to these kinds. Kinds that have a handler in
	// the server's process are never leased.
	Kinds []string `json:"kinds,omitempty"`
}

// HeartbeatRequest is the JSON body of POST /v1/jobs/{id}/heartbeat.
type HeartbeatRequest struct {
	LeaseToken string `json:"lease_token"`
	// Progress is 0 to 100; Message goes with it.
	Progress *int    `json:"progress,omitempty"`
	Message  *string `json:"message,omitempty"`
	// Checkpoint is saved for the next attempt.
	Checkpoint json.RawMessage `json:"checkpoint,omitempty"`
	// Extend moves the lease's end to now+Extend. Default: the client's
	// LeaseFor.
	Extend string `json:"extend,omitempty"`
}

// CompleteRequest is the JSON body of POST /v1/jobs/{id}/complete.
type CompleteRequest struct {
	LeaseToken string          `json:"lease_token"`
	Result     json.RawMessage `json:"result,omitempty"`
	// AwaitChildren waits for the children spawned with POST
	// /v1/jobs/{id}/children instead of succeeding.
	AwaitChildren bool `json:"await_children,omitempty"`
}

// FailRequest is the JSON body of POST /v1/jobs/{id}/fail.
type FailRequest struct {
	LeaseToken string `json:"lease_token"`
	// Error says what went wrong.
	Error string `json:"error,omitempty"`
	// Retry false fails the job now; the default retries it while
	// attempts remain.
	Retry *bool `json:"retry,omitempty"`
	// RetryIn is the delay before the retry, e.g. "10s". Default: the
	// client's backoff.
	RetryIn string `json:"retry_in,omitempty"`
}

// SnoozeRequest is the JSON body of POST /v1/jobs/{id}/snooze.
type SnoozeRequest struct {
	LeaseToken string `json:"lease_token"`
	// RetryIn is the delay before the job runs again, e.g. "10s". Default:
	// none, it is available at once.
	RetryIn string `json:"retry_in,omitempty"`
}

// leaseIn is a POST /v1/queues/{name}/lease request.
type leaseIn struct {
	r *http.Request
	w http.ResponseWriter
	p gantry.LeaseParams
}

func (in *leaseIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	in.r, in.w = r, w
	in.p.Queue = r.PathValue("name")
	if !store.ValidName(in.p.Queue) {
		return badName("name", "a queue name")
	}
	var req LeaseRequest
	if err := bindOptionalJSON(s, w, r, &req); err != nil {
		return err
	}
	var err error
	if in.p.LeaseFor, err = parseDuration("lease", req.Lease); err != nil {
		return err
	}
	if in.p.Wait, err = parseDuration("wait", req.Wait); err != nil {
		return err
	}
	switch {
	case req.Lease != "" && in.p.LeaseFor <= 0:
		return invalidField("lease", "lease must be positive")
	case in.p.Wait < 0:
		return invalidField("wait", "wait must not be negative")
	}
	in.p.Wait = min(in.p.Wait, MaxWait)
	in.p.Max, in.p.Kinds = req.Max, req.Kinds
	return nil
}

// lease answers POST /v1/queues/{name}/lease: up to max jobs, each with its
// lease token, or an empty list when none came within wait (or the server
// began to drain).
func (s *Server) lease(ctx context.Context, in *leaseIn) (*reply, error) {
	if in.p.Wait > 0 {
		release, err := s.longLived(in.r)
		if err != nil {
			return nil, err
		}
		defer release()
		_ = http.NewResponseController(in.w).SetWriteDeadline(time.Now().Add(in.p.Wait + 10*time.Second))
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.drainCtx, cancel)
	defer stop()
	jobs, err := s.client.Workers().Lease(wctx, &in.p)
	if err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			// Drained while claiming: nothing was leased.
			return &reply{status: http.StatusOK, body: LeaseResponse{Jobs: []*LeasedJob{}}}, nil
		}
		return nil, err
	}
	if ctx.Err() != nil && len(jobs) > 0 {
		// Nobody will read the answer: give the jobs back at once rather
		// than let their leases expire and spend an attempt.
		s.release(ctx, jobs)
		return nil, ctx.Err()
	}
	out := LeaseResponse{Jobs: make([]*LeasedJob, len(jobs))}
	for i, j := range jobs {
		out.Jobs[i] = leasedJob(j)
	}
	return &reply{status: http.StatusOK, body: out}, nil
}

// release gives leased jobs back, available at once without spending the
// attempt.
func (s *Server) release(ctx context.Context, jobs []*gantry.Job) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	items := make([]store.FinishItem, len(jobs))
	for i, j := range jobs {
		items[i] = store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeReleased}
	}
	if _, err := s.client.Store().Finish(ctx, &store.FinishParams{Items: items, Now: s.cfg.Now()}); err != nil {
		s.log.WarnContext(ctx, "releasing leased jobs of a request that went away failed", "error", err)
	}
}

// leaseLost explains a lost lease with the job's state, when it is known.
func (s *Server) leaseLost(ctx context.Context, id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFoundJob(id, err)
	}
	if !errors.Is(err, store.ErrLeaseLost) {
		return err
	}
	e := toAPIError(err, false)
	if j, gerr := s.client.Get(ctx, id); gerr == nil {
		e.p.State = string(j.State)
		switch {
		case j.State == gantry.StateCancelled:
			e.p.Detail = "the job was cancelled; stop working on it"
		case j.State.Final():
			e.p.Detail = "the job is " + string(j.State) + " already; this attempt's result is not recorded"
		default:
			e.p.Detail = "the lease token is not the current one of this job (it is " + string(j.State) +
				" in attempt " + strconv.Itoa(j.Attempt) + "): the lease expired or the token is wrong"
		}
	}
	return e
}

// heartbeatIn is a POST /v1/jobs/{id}/heartbeat request.
type heartbeatIn struct {
	p          gantry.HeartbeatParams
	msgOnly    bool
	messageArg string
}

func (in *heartbeatIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req HeartbeatRequest
	if err := bindRequiredJSON(s, w, r, &req); err != nil {
		return err
	}
	in.p.ID, in.p.LeaseToken = id, req.LeaseToken
	if req.LeaseToken == "" {
		return invalidField("lease_token", "lease_token must be set")
	}
	if in.p.Extend, err = parseDuration("extend", req.Extend); err != nil {
		return err
	}
	if req.Extend != "" && in.p.Extend <= 0 {
		return invalidField("extend", "extend must be positive")
	}
	switch {
	case req.Progress != nil:
		p := &gantry.Progress{Percent: *req.Progress}
		if req.Message != nil {
			p.Message = *req.Message
		}
		in.p.Progress = p
	case req.Message != nil:
		in.msgOnly, in.messageArg = true, *req.Message
	}
	if t := bytes.TrimSpace(req.Checkpoint); len(t) > 0 && string(t) != "null" {
		in.p.Checkpoint = req.Checkpoint
	}
	return nil
}

// heartbeat answers POST /v1/jobs/{id}/heartbeat: the lease is extended,
// progress and checkpoint recorded; 409 lease_lost for a stale token.
func (s *Server) heartbeat(ctx context.Context, in *heartbeatIn) (*reply, error) {
	if in.msgOnly {
		// A message alone keeps the percent last reported.
		pr := &gantry.Progress{Message: in.messageArg}
		if j, err := s.client.Get(ctx, in.p.ID); err == nil && j.Progress != nil {
			pr.Percent = j.Progress.Percent
		}
		in.p.Progress = pr
	}
	j, err := s.client.Workers().Heartbeat(ctx, &in.p)
	if err != nil {
		return nil, s.leaseLost(ctx, in.p.ID, err)
	}
	lj := leasedJob(j)
	lj.LeaseToken = in.p.LeaseToken
	return &reply{status: http.StatusOK, body: lj}, nil
}

// completeIn is a POST /v1/jobs/{id}/complete request.
type completeIn struct {
	id  string
	req CompleteRequest
}

func (in *completeIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	var err error
	if in.id, err = pathID(r); err != nil {
		return err
	}
	if err := bindRequiredJSON(s, w, r, &in.req); err != nil {
		return err
	}
	if in.req.LeaseToken == "" {
		return invalidField("lease_token", "lease_token must be set")
	}
	if t := bytes.TrimSpace(in.req.Result); len(t) == 0 || string(t) == "null" {
		in.req.Result = nil
	}
	return nil
}

// complete answers POST /v1/jobs/{id}/complete: the job succeeded.
func (s *Server) complete(ctx context.Context, in *completeIn) (*reply, error) {
	if in.req.AwaitChildren && in.req.Result != nil {
		return nil, invalidField("result", "result must not be set with await_children: the job runs again")
	}
	j, err := s.client.Workers().Complete(ctx, &gantry.CompleteParams{ID: in.id, LeaseToken: in.req.LeaseToken,
		Result: in.req.Result, AwaitChildren: in.req.AwaitChildren})
	if err != nil {
		return nil, s.leaseLost(ctx, in.id, err)
	}
	return &reply{status: http.StatusOK, body: jobResource(j)}, nil
}

// failIn is a POST /v1/jobs/{id}/fail request.
type failIn struct {
	p gantry.FailParams
}

func (in *failIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req FailRequest
	if err := bindRequiredJSON(s, w, r, &req); err != nil {
		return err
	}
	if req.LeaseToken == "" {
		return invalidField("lease_token", "lease_token must be set")
	}
	in.p = gantry.FailParams{ID: id, LeaseToken: req.LeaseToken, Error: req.Error}
	in.p.Permanent = req.Retry != nil && !*req.Retry
	if in.p.RetryIn, err = parseDuration("retry_in", req.RetryIn); err != nil {
		return err
	}
	if in.p.RetryIn < 0 {
		return invalidField("retry_in", "retry_in must not be negative")
	}
	return nil
}

// fail answers POST /v1/jobs/{id}/fail: the attempt failed; the job is
// retried while attempts remain unless "retry" is false.
func (s *Server) fail(ctx context.Context, in *failIn) (*reply, error) {
	j, err := s.client.Workers().Fail(ctx, &in.p)
	if err != nil {
		return nil, s.leaseLost(ctx, in.p.ID, err)
	}
	return &reply{status: http.StatusOK, body: jobResource(j)}, nil
}

// snoozeIn is a POST /v1/jobs/{id}/snooze request.
type snoozeIn struct {
	p gantry.SnoozeParams
}

func (in *snoozeIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req SnoozeRequest
	if err := bindRequiredJSON(s, w, r, &req); err != nil {
		return err
	}
	if req.LeaseToken == "" {
		return invalidField("lease_token", "lease_token must be set")
	}
	in.p = gantry.SnoozeParams{ID: id, LeaseToken: req.LeaseToken}
	if in.p.RetryIn, err = parseDuration("retry_in", req.RetryIn); err != nil {
		return err
	}
	if in.p.RetryIn < 0 {
		return invalidField("retry_in", "retry_in must not be negative")
	}
	return nil
}

// snooze answers POST /v1/jobs/{id}/snooze: the attempt is given back
// unspent and the job runs again after retry_in.
func (s *Server) snooze(ctx context.Context, in *snoozeIn) (*reply, error) {
	j, err := s.client.Workers().Snooze(ctx, &in.p)
	if err != nil {
		return nil, s.leaseLost(ctx, in.p.ID, err)
	}
	return &reply{status: http.StatusOK, body: jobResource(j)}, nil
}

// bindRequiredJSON decodes the JSON body of a request without query
// parameters.
func bindRequiredJSON(s *Server, w http.ResponseWriter, r *http.Request, v any) error {
	if _, err := queryValues(r, nil); err != nil {
		return err
	}
	body, err := readJSON(w, r, s.cfg.MaxJSONBody, false)
	if err != nil {
		return err
	}
	return decodeStrict(body, v, "")
}
