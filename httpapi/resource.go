package httpapi

import (
	"encoding/json"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store"
)

// JobResource is a job as the API shows it (docs/http-api.md). Fields
// without a value are null, or empty lists; lease tokens never appear
// except in a lease response (LeasedJob).
type JobResource struct {
	ID           string            `json:"id"`
	Kind         string            `json:"kind"`
	Queue        string            `json:"queue"`
	State        gantry.State      `json:"state"`
	Args         json.RawMessage   `json:"args"`
	Priority     int               `json:"priority"`
	Attempt      int               `json:"attempt"`
	MaxAttempts  int               `json:"max_attempts"`
	RunAt        time.Time         `json:"run_at"`
	CreatedAt    time.Time         `json:"created_at"`
	StartedAt    *time.Time        `json:"started_at"`
	FinishedAt   *time.Time        `json:"finished_at"`
	Progress     *ProgressResource `json:"progress"`
	Result       json.RawMessage   `json:"result"`
	Errors       []AttemptResource `json:"errors"`
	DependsOn    []string          `json:"depends_on"`
	ParentID     *string           `json:"parent_id"`
	WorkflowID   *string           `json:"workflow_id"`
	Ref          *string           `json:"ref"`
	Blob         *BlobResource     `json:"blob"`
	Timeout      string            `json:"timeout,omitempty"`
	UniqueKey    string            `json:"unique_key,omitempty"`
	CancelReason string            `json:"cancel_reason,omitempty"`
	// LimitKey is the job's key under its queue's limits (Limits.Key),
	// read at enqueue; absent for the default key and in unkeyed queues.
	LimitKey string `json:"limit_key,omitempty"`
	// IfDependencyFails is "cancel" or "run" when the job said so.
	IfDependencyFails string `json:"if_dependency_fails,omitempty"`
}

// JobSummary is what an enqueue answer says of a job the caller did not
// create, a unique_key duplicate, when the caller's token lacks the read
// scope: enough to follow it, nothing of its content.
type JobSummary struct {
	ID    string       `json:"id"`
	Kind  string       `json:"kind"`
	Queue string       `json:"queue"`
	State gantry.State `json:"state"`
}

// ProgressResource is a running job's last progress report.
type ProgressResource struct {
	Percent int    `json:"percent"`
	Message string `json:"message"`
}

// AttemptResource is one failed attempt of a job.
type AttemptResource struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// BlobResource describes a job's binary payload; GET /v1/jobs/{id}/blob
// returns it.
type BlobResource struct {
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
}

// LeasedJob is a job handed to an external worker: the job resource, the
// token that fences the attempt, when the lease ends, and the checkpoint an
// earlier attempt saved (null if none).
type LeasedJob struct {
	JobResource
	LeaseToken     string          `json:"lease_token"`
	LeaseExpiresAt time.Time       `json:"lease_expires_at"`
	Checkpoint     json.RawMessage `json:"checkpoint"`
	// Dependencies are the outcomes of the jobs this one waited for, by
	// ref within a workflow and by id otherwise.
	Dependencies map[string]gantry.Dependency `json:"dependencies,omitempty"`
}

// jobResource converts a job for the API.
func jobResource(j *store.Job) *JobResource {
	r := &JobResource{
		ID:           j.ID,
		Kind:         j.Kind,
		Queue:        j.Queue,
		State:        j.State,
		Args:         j.Args,
		Priority:     j.Priority,
		Attempt:      j.Attempt,
		MaxAttempts:  j.MaxAttempts,
		RunAt:        j.RunAt.UTC(),
		CreatedAt:    j.CreatedAt.UTC(),
		StartedAt:    optTime(j.StartedAt),
		FinishedAt:   optTime(j.FinishedAt),
		Result:       j.Result,
		Errors:       make([]AttemptResource, 0, len(j.Errors)),
		DependsOn:    j.DependsOn,
		UniqueKey:    j.UniqueKey,
		CancelReason: j.CancelReason,
		LimitKey:     j.LimitKey,
	}
	if len(r.Args) == 0 {
		r.Args = json.RawMessage("{}")
	}
	if r.DependsOn == nil {
		r.DependsOn = []string{}
	}
	if j.Timeout > 0 {
		r.Timeout = j.Timeout.String()
	}
	if j.Progress != nil {
		r.Progress = &ProgressResource{Percent: j.Progress.Percent, Message: j.Progress.Message}
	}
	for _, e := range j.Errors {
		r.Errors = append(r.Errors, AttemptResource{Attempt: e.Attempt, At: e.At.UTC(), Message: e.Message})
	}
	if j.ParentID != "" {
		p := j.ParentID
		r.ParentID = &p
	}
	if j.WorkflowID != "" {
		w := j.WorkflowID
		r.WorkflowID = &w
	}
	if j.Ref != "" {
		ref := j.Ref
		r.Ref = &ref
	}
	r.IfDependencyFails = string(j.IfDependencyFails)
	if j.Blob != nil {
		r.Blob = &BlobResource{Size: j.Blob.Size, SHA256: j.Blob.SHA256, ContentType: j.Blob.ContentType}
	}
	return r
}

// NewLeasedJob returns a leased job as a lease response shows it, the
// body that push delivery posts to a target.
func NewLeasedJob(j *gantry.Job) *LeasedJob { return leasedJob(j) }

func leasedJob(j *store.Job) *LeasedJob {
	return &LeasedJob{
		JobResource:    *jobResource(j),
		LeaseToken:     j.LeaseToken,
		LeaseExpiresAt: j.LeaseExpiresAt.UTC(),
		Checkpoint:     j.Checkpoint,
		Dependencies:   j.Dependencies,
	}
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// JobList is the answer of GET /v1/jobs.
type JobList struct {
	Jobs []*JobResource `json:"jobs"`
	// NextCursor is the cursor of the next page, "" after the last.
	NextCursor string `json:"next_cursor"`
}

// JobBatch is the answer of POST /v1/jobs/batch.
type JobBatch struct {
	Jobs []*JobResource `json:"jobs"`
}

// LeaseResponse is the answer of POST /v1/queues/{name}/lease.
type LeaseResponse struct {
	Jobs []*LeasedJob `json:"jobs"`
}

// QueueResource describes a queue.
type QueueResource struct {
	Name   string `json:"name"`
	Paused bool   `json:"paused"`
	// Counts has the number of jobs in every state.
	Counts            map[gantry.State]int64 `json:"counts"`
	OldestAvailableAt *time.Time             `json:"oldest_available_at"`
	Limits            QueueLimits            `json:"limits"`
	// DrainRate is how many jobs of the queue finished per second lately,
	// as this server measured it; null when unknown.
	DrainRate *float64 `json:"drain_rate"`
}

// QueueLimits are the limits the server applies to a queue.
type QueueLimits struct {
	// MaxPending is the admission limit; null when there is none.
	MaxPending *int `json:"max_pending"`
	// LimitsRequest holds the queue's stored limits (gantry.Limits), for
	// every node, by the members PUT /v1/queues/{name}/limits takes: each
	// null when unset, but burst and per_key_burst, shown as 1 when their
	// rate is set without them.
	LimitsRequest
}

// QueueList is the answer of GET /v1/queues.
type QueueList struct {
	Queues []*QueueResource `json:"queues"`
}
