package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/store"
)

// jobCols are the columns scanJob reads, in order.
const jobCols = `id, kind, queue, state, args, priority, attempt, max_attempts, timeout_ns,
	unique_key, depends_on, parent_id, run_at, created_at, started_at, finished_at,
	progress_percent, progress_message, result, errors, checkpoint, cancel_reason,
	blob_key, blob_size, blob_sha256, blob_content_type, lease_token, lease_expires_at,
	workflow_id::text, ref, if_dependency_fails, trace_parent, snoozes, first_snoozed_at, limit_key`

// jobColsOf is jobCols qualified by a table alias.
func jobColsOf(alias string) string {
	cols := strings.Split(jobCols, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// scanJob reads one row of jobCols (and then extra) into a Job. The lease
// token is read too: callers that return the job to a reader clear it.
func scanJob(row pgx.Row, extra ...any) (*store.Job, error) {
	var (
		j                                   store.Job
		state                               string
		priority                            int16
		timeoutNS                           int64
		uniqueKey, parentID, cancelReason   pgtype.Text
		progressMsg, leaseToken             pgtype.Text
		blobKey, blobSHA, blobType          pgtype.Text
		blobSize                            pgtype.Int8
		progressPct                         pgtype.Int2
		dependsOn                           []string
		startedAt, finishedAt, leaseExpires pgtype.Timestamptz
		errs                                []byte
		workflowID, ref, policy, traceP     pgtype.Text
		firstSnoozed                        pgtype.Timestamptz
		limitKey                            pgtype.Text
	)
	dest := []any{&j.ID, &j.Kind, &j.Queue, &state, &j.Args, &priority, &j.Attempt, &j.MaxAttempts, &timeoutNS,
		&uniqueKey, &dependsOn, &parentID, &j.RunAt, &j.CreatedAt, &startedAt, &finishedAt,
		&progressPct, &progressMsg, &j.Result, &errs, &j.Checkpoint, &cancelReason,
		&blobKey, &blobSize, &blobSHA, &blobType, &leaseToken, &leaseExpires,
		&workflowID, &ref, &policy, &traceP, &j.Snoozes, &firstSnoozed, &limitKey}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	j.State = store.State(state)
	j.Priority = int(priority)
	j.Timeout = time.Duration(timeoutNS)
	j.UniqueKey = uniqueKey.String
	j.DependsOn = dependsOn
	j.ParentID = parentID.String
	j.CancelReason = cancelReason.String
	j.WorkflowID = workflowID.String
	j.Ref = ref.String
	j.IfDependencyFails = store.DependencyPolicy(policy.String)
	j.TraceParent = traceP.String
	j.LimitKey = limitKey.String
	j.FirstSnoozedAt = utc(firstSnoozed)
	j.RunAt = j.RunAt.UTC()
	j.CreatedAt = j.CreatedAt.UTC()
	j.StartedAt = utc(startedAt)
	j.FinishedAt = utc(finishedAt)
	j.LeaseToken = leaseToken.String
	j.LeaseExpiresAt = utc(leaseExpires)
	if progressPct.Valid {
		j.Progress = &store.Progress{Percent: int(progressPct.Int16), Message: progressMsg.String}
	}
	if blobKey.Valid {
		j.Blob = &blob.Info{Key: blobKey.String, Size: blobSize.Int64, SHA256: blobSHA.String, ContentType: blobType.String}
	}
	if len(errs) > 0 {
		if err := json.Unmarshal(errs, &j.Errors); err != nil {
			return nil, fmt.Errorf("decoding errors of job %s: %w", j.ID, err)
		}
	}
	if len(j.Result) == 0 {
		j.Result = nil
	}
	if len(j.Checkpoint) == 0 {
		j.Checkpoint = nil
	}
	return &j, nil
}

func utc(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// forReader returns j as readers see it: without the lease token.
func forReader(j *store.Job) *store.Job {
	j.LeaseToken = ""
	return j
}

// validID reports whether id can be a job id (a UUID); an id that cannot
// names no job.
func validID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

// Get returns the job with the given id, or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*store.Job, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, store.ErrNotFound
	}
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobCols+` FROM `+s.q.jobs+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, s.wrap("get", err)
	}
	return forReader(j), nil
}

// List returns jobs newest first (by id, which is time-ordered). The
// cursor is the id of the last job of the previous page.
func (s *Store) List(ctx context.Context, p *store.ListParams) (*store.ListResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	limit := p.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	limit = min(limit, store.MaxListLimit)
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if p.State != "" {
		if !p.State.Valid() {
			return nil, &store.FieldError{Index: -1, Field: "State", Reason: "is not a state"}
		}
		add("state = ?", string(p.State))
	}
	if p.Kind != "" {
		add("kind = ?", p.Kind)
	}
	if p.Queue != "" {
		add("queue = ?", p.Queue)
	}
	if p.ParentID != "" {
		add("parent_id = ?", p.ParentID)
	}
	if p.WorkflowID != "" {
		if !validID(p.WorkflowID) {
			return &store.ListResult{}, nil
		}
		add("workflow_id = ?", p.WorkflowID)
	}
	if p.Cursor != "" {
		if !validID(p.Cursor) {
			return nil, &store.FieldError{Index: -1, Field: "Cursor", Reason: "is not a cursor from this store"}
		}
		add("id < ?", p.Cursor)
	}
	sql := `SELECT ` + jobCols + ` FROM ` + s.q.jobs
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit+1)
	sql += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.wrap("list", err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Job, error) { return scanJob(r) })
	if err != nil {
		return nil, s.wrap("list", err)
	}
	res := &store.ListResult{Jobs: jobs}
	if len(jobs) > limit {
		res.Jobs = jobs[:limit]
		res.Next = jobs[limit-1].ID
	}
	for _, j := range res.Jobs {
		forReader(j)
	}
	return res, nil
}
